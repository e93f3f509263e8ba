"""The policymaker reports of the small synthetic demo, checked as a reader gets them:
in headless Chromium (charts visible, no broken images, no console errors) and as PDF
pages turned into images."""

from __future__ import annotations

import json
import os
import re
from concurrent.futures.process import BrokenProcessPool

import duckdb
import numpy as np
import pytest

from pilotmonitor.report.browser import browser

PILOTS = ("alkmaar-soos", "groningen-cluster3", "hoogeveen-positief-opgroeien", "winschoten-sbo")


@pytest.fixture(scope="module")
def reports(demo_data_dir):
    return demo_data_dir / "reports"


def test_every_pilot_has_both_languages_in_html_and_pdf_with_a_disclosure_log(reports):
    for pilot in PILOTS:
        folder = reports / pilot
        for name in (
            "report.nl.html",
            "report.en.html",
            "report.nl.pdf",
            "report.en.pdf",
            "disclosure_log.json",
        ):
            assert (folder / name).is_file(), f"{pilot}: {name} missing"
        log = json.loads((folder / "disclosure_log.json").read_text(encoding="utf-8"))
        assert log["status"] in ("pass", "review"), log["status"]
        kinds = {o["kind"] for o in log["outputs"]}
        assert {"frequency", "magnitude", "model", "figure"} <= kinds
        figures = [o for o in log["outputs"] if o["kind"] == "figure"]
        assert figures and all(o["status"] != "fail" for o in figures)


def test_winschoten_is_interim_and_groningen_final_in_both_languages(reports):
    nl = (reports / "winschoten-sbo" / "report.nl.html").read_text(encoding="utf-8")
    en = (reports / "winschoten-sbo" / "report.en.html").read_text(encoding="utf-8")
    assert "Tussentijds resultaat" in nl and "Interim result" in en
    assert "Eindresultaat" in (reports / "groningen-cluster3" / "report.nl.html").read_text(
        encoding="utf-8"
    )
    assert "Final result" in (reports / "groningen-cluster3" / "report.en.html").read_text(
        encoding="utf-8"
    )
    assert 'lang="nl"' in nl and 'lang="en"' in en
    # the answer in plain words comes first, with the referral outcome named
    assert nl.index("Het antwoord in gewone woorden") < nl.index("Grafieken")
    assert "nieuwe verwijzingen naar jeugdhulp" in nl.lower()


def test_no_pupil_pseudonym_reaches_a_report(reports, demo_data_dir):
    with duckdb.connect(
        str(demo_data_dir / "warehouse" / "pilotmonitor.duckdb"), read_only=True
    ) as conn:
        pseudonyms = {
            r[0]
            for r in conn.execute(
                "select distinct pupil_pseudonym from published.fct_pupil_month"
            ).fetchall()
        }
    assert len(pseudonyms) > 100
    token = re.compile(r"[A-Za-z0-9_\-]{16,}")
    for pilot in PILOTS:
        text = (reports / pilot / "report.nl.html").read_text(encoding="utf-8")
        # chart bytes are not text
        text = re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", text)
        assert not (set(token.findall(text)) & pseudonyms)


@pytest.mark.parametrize("lang", ["nl", "en"])
def test_report_renders_in_headless_chromium(reports, lang):
    path = reports / "winschoten-sbo" / f"report.{lang}.html"
    with browser() as context:
        page = context.new_page()
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        failed: list[str] = []
        page.on("requestfailed", lambda r: failed.append(r.url))
        page.goto(path.as_uri(), wait_until="load")
        images = page.evaluate("""() => Array.from(document.images).map(i => ({
            complete: i.complete, width: i.naturalWidth, height: i.naturalHeight,
            shown: i.getBoundingClientRect().height, alt: i.alt}))""")
        banner = page.locator(".synthetic")
        assert banner.is_visible()
        assert ("SYNTHETISCHE DATA" if lang == "nl" else "SYNTHETIC DATA") in banner.inner_text()
        figures = page.locator("figure img").count()
    assert not errors, errors
    assert not failed, failed
    assert figures >= 4  # trend, event study, forest, dose (+ costs when estimable)
    assert len(images) == figures
    for image in images:
        assert image["complete"] and image["width"] > 200 and image["height"] > 100, image
        assert image["shown"] > 100, f"chart not visible: {image}"


def test_pdf_pages_render_to_images_with_the_synthetic_label_on_every_page(reports):
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(str(reports / "groningen-cluster3" / "report.nl.pdf"))
    assert len(pdf) >= 2
    for index in range(len(pdf)):
        page = pdf[index]
        assert "SYNTHETISCHE DATA" in page.get_textpage().get_text_range()
    first = np.asarray(pdf[0].render(scale=1.0).to_pil().convert("L"), dtype=float)
    assert first.shape[0] > 700 and first.shape[1] > 500  # A4 at 72 dpi
    assert first.std() > 10, "first PDF page is blank"
    # a page with a chart holds far more non-white pixels than a page of text only
    inked = [
        float((np.asarray(pdf[i].render(scale=1.0).to_pil().convert("L")) < 200).mean())
        for i in range(len(pdf))
    ]
    assert max(inked) > 0.05, inked


ANSWER = re.compile(r'<div class="answer[^"]*">\s*<h3>[^:<]*: ([^<]*)</h3>(.*?)</div>', re.S)
COUNT_NAMES = {
    "new_referrals": "new referrals to youth care",
    "dropouts": "dropout (schooluitval)",
    "thuiszitter_spell_starts": "new spells of pupils sitting at home",
}


def _pre_counts(conn, pilot: str) -> dict[str, int]:
    from pilotmonitor.evaluation.sample import build_sample, read_published

    sample = build_sample(read_published(conn), pilot)
    pre = sample.panel[(sample.panel["role"] == "treated") & (sample.panel["event_time"] < 0)]
    return {column: int(pre[column].sum()) for column in COUNT_NAMES}


def test_absolute_effects_resting_on_small_counts_are_suppressed(reports, demo_data_dir, tmp_path):
    """The plain-words baseline ("Before the pilot: ...") of a count outcome is shown only
    when the pilot schools' pre-period count behind it reaches the threshold of 10: as
    delivered (small counts at demo scale 0.05), and after planting a large count."""
    import shutil

    from pilotmonitor.report import build_report

    with duckdb.connect(
        str(demo_data_dir / "warehouse" / "pilotmonitor.duckdb"), read_only=True
    ) as conn:
        counts = {pilot: _pre_counts(conn, pilot) for pilot in PILOTS}
    for pilot in PILOTS:
        blocks = dict(
            ANSWER.findall((reports / pilot / "report.en.html").read_text(encoding="utf-8"))
        )
        for column, name in COUNT_NAMES.items():
            assert ("Before the pilot:" in blocks[name]) == (counts[pilot][column] >= 10), (
                pilot,
                name,
                counts[pilot],
            )

    # plant 25 more referrals before the start at one Winschoten school: now shown
    copy = tmp_path / "warehouse.duckdb"
    shutil.copy(demo_data_dir / "warehouse" / "pilotmonitor.duckdb", copy)
    with duckdb.connect(str(copy)) as conn:
        conn.execute("""update published.fct_school_month set new_referrals = new_referrals + 25
                        where school_id = (select min(school_id) from published.dim_pilot_assignment
                                           where pilot_id = 'winschoten-sbo' and role = 'treated')
                          and month = date '2025-10-01'""")
        planted = _pre_counts(conn, "winschoten-sbo")
        files = build_report(
            conn, "winschoten-sbo", tmp_path / "reports", synthetic=True, pdf=False
        )
    assert planted["new_referrals"] >= 25 and planted["dropouts"] < 10
    blocks = dict(ANSWER.findall(files.html["en"].read_text(encoding="utf-8")))
    assert "Before the pilot:" in blocks["new referrals to youth care"]
    assert "Before the pilot:" not in blocks["dropout (schooluitval)"]


def test_a_pilot_without_a_report_does_not_stop_the_others(demo_data_dir, tmp_path):
    from pilotmonitor.report import build_reports

    with duckdb.connect(
        str(demo_data_dir / "warehouse" / "pilotmonitor.duckdb"), read_only=True
    ) as conn:
        files = build_reports(
            conn, ["no-such-pilot", "groningen-cluster3"], tmp_path, synthetic=True, pdf=False
        )
    missing, groningen = files
    assert missing.error and "no-such-pilot" in missing.error and not missing.html
    assert (
        groningen.error is None and groningen.html["nl"].is_file() and groningen.result == "final"
    )


@pytest.mark.parametrize(
    "within_a_run", [None, "helpers", "dead helpers"], ids=["chart worker", "run helpers", "dead"]
)
def test_reports_built_together_keep_their_order_and_equal_one_built_alone(
    demo_data_dir, tmp_path, monkeypatch, within_a_run
):
    """Several reports are built in a pipeline (a worker process draws one report's charts
    while the next is read and checked; within a `pilotmonitor run`, the run's helper
    processes, with matplotlib imported ahead, or this process when they have died): the
    files come back in the pilots' order, a reused report and one that cannot be written
    in between, and each report's HTML and charts are byte for byte those of the same
    report built alone in this process."""
    import contextlib

    from pilotmonitor import run_helpers, worker_processes
    from pilotmonitor.report import build_report, build_reports, reuse

    monkeypatch.setattr(reuse, "code_fingerprint", lambda: "committed-tree")  # a clean checkout
    pilots = ["winschoten-sbo", "no-such-pilot", "groningen-cluster3", "alkmaar-soos"]
    with (
        duckdb.connect(
            str(demo_data_dir / "warehouse" / "pilotmonitor.duckdb"), read_only=True
        ) as conn,
        run_helpers.started() if within_a_run else contextlib.nullcontext() as helpers,
    ):
        if helpers is not None:
            with run_helpers.later_steps_imported():
                pass

            def no_chart_worker(*args):
                raise AssertionError("a chart worker of its own started within a run")

            monkeypatch.setattr(worker_processes, "spawned_pool", no_chart_worker)
            if within_a_run == "dead helpers":
                with pytest.raises(BrokenProcessPool):
                    helpers.each(os._exit, 1)
        build_reports(conn, ["groningen-cluster3"], tmp_path / "together", True, pdf=False)
        together = build_reports(conn, pilots, tmp_path / "together", True, pdf=False)
        alone = {
            pid: build_report(conn, pid, tmp_path / "alone", True, pdf=False)
            for pid in ("winschoten-sbo", "alkmaar-soos")
        }
    assert [f.pilot_id for f in together] == pilots
    assert together[1].error and together[2].reused and not together[0].reused
    for files in (together[0], together[3]):
        single = alone[files.pilot_id]
        for lang in ("nl", "en"):
            assert files.html[lang].read_bytes() == single.html[lang].read_bytes()
        charts = sorted((files.directory / "figures").glob("*.png"))
        assert len(charts) >= 4
        for chart in charts:
            assert chart.read_bytes() == (single.directory / "figures" / chart.name).read_bytes()


def test_kinds_of_care_are_reported_in_words_and_pass_disclosure_control(reports, demo_data_dir):
    """Referrals (and, for Groningen, costs) by kind of care are secondary outcomes of two
    pilots: each has its answer in words in both languages; a baseline resting on fewer
    than 10 referrals of a kind, or a kind's cost dominated by a few clients, is suppressed
    (the report is still written), and each kind's cost baseline has its own magnitude
    check in the disclosure log."""
    import json

    from pilotmonitor.evaluation.outcomes import KINDS_OF_CARE, OUTCOMES

    with duckdb.connect(
        str(demo_data_dir / "warehouse" / "pilotmonitor.duckdb"), read_only=True
    ) as conn:
        from pilotmonitor.evaluation.sample import build_sample, read_published

        inputs = read_published(conn)
        pre = {}
        for pilot in ("groningen-cluster3", "hoogeveen-positief-opgroeien"):
            sample = build_sample(inputs, pilot)
            pre[pilot] = sample.panel[
                (sample.panel["role"] == "treated") & (sample.panel["event_time"] < 0)
            ]
    for pilot, with_costs in (
        ("groningen-cluster3", True),
        ("hoogeveen-positief-opgroeien", False),
    ):
        log = json.loads((reports / pilot / "disclosure_log.json").read_text(encoding="utf-8"))
        outputs = {o["name"]: o for o in log["outputs"]}
        for lang in ("nl", "en"):
            blocks = dict(
                ANSWER.findall(
                    (reports / pilot / f"report.{lang}.html").read_text(encoding="utf-8")
                )
            )
            for kind in KINDS_OF_CARE:
                referrals = OUTCOMES[f"referrals_{kind}"]
                assert referrals.label[lang] in blocks, (pilot, lang, kind, list(blocks))
                if lang == "en":
                    shown = "Before the pilot:" in blocks[referrals.label[lang]]
                    assert shown == (pre[pilot][referrals.count].sum() >= 10), (pilot, kind)
                cost = OUTCOMES[f"youth_care_cost_{kind}_per_pupil"]
                assert (cost.label[lang] in blocks) == with_costs, (pilot, lang, kind)
                if with_costs:
                    # no log entry: no cost of the kind before the pilot, nothing to show
                    checked = outputs.get(f"cost_baseline_{kind}_before_pilot")
                    assert checked is None or checked["status"] in {"pass", "review"}
                    if lang == "en":
                        shown = "Before the pilot:" in blocks[cost.label[lang]]
                        assert shown == (
                            checked is not None and checked["cells_suppressed"] == 0
                        ), (pilot, kind, checked)


def test_the_report_says_youth_care_data_start_in_2015_and_names_special_education(reports):
    """The window never starts before the decentralisation (YOUTH_CARE_DATA_FROM), said in
    both languages; Hoogeveen's referrals to special education are reported in words."""
    nl = (reports / "hoogeveen-positief-opgroeien" / "report.nl.html").read_text(encoding="utf-8")
    en = (reports / "hoogeveen-positief-opgroeien" / "report.en.html").read_text(encoding="utf-8")
    assert "decentralisatie van 1 januari 2015" in nl and "niet vóór jan 2015" in nl
    assert "decentralisation of 1 January 2015" in en and "no earlier than Jan 2015" in en
    assert "verwijzingen naar speciaal onderwijs" in nl and "referrals to special education" in en
