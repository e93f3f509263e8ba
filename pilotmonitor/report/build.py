"""Build one pilot's report: read, disclosure-check, draw, render (HTML + PDF, Dutch and
English) and write the disclosure log beside it.

Nothing reaches the page that did not pass through the release's disclosure control:
tables are replaced by their checked versions (suppressed cells become "onderdrukt" /
"suppressed"), charts are drawn from checked tables and registered as figures with their
sources, and model outputs that fail (too few residual degrees of freedom) are withheld
with the reason. Output layout, per pilot::

    <reports dir>/<pilot id>/report.nl.html, report.en.html, report.nl.pdf, report.en.pdf,
                             figures/*.png, disclosure_log.json (+ its readable view),
                             report_key.json (what the report was built from: reuse.py)
"""

from __future__ import annotations

import base64
import contextlib
import logging
from collections.abc import Callable
from concurrent.futures import Executor, Future
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import NamedTuple

import duckdb
import jinja2
import numpy as np
import pandas as pd

from pilotmonitor import atomic_write
from pilotmonitor.disclosure import CheckedOutput, DisclosureRules, Release
from pilotmonitor.disclosure.models import residual_df
from pilotmonitor.evaluation.outcomes import OUTCOMES
from pilotmonitor.evaluation.sample import PublishedInputs
from pilotmonitor.ingest import identifier_forms

from . import reuse as report_reuse
from .browser import BackgroundPrinter, BrowserMissing, PdfJob, PdfPrinter, print_pdfs
from .content import Effect, ReportContent, read_content
from .narrative import effect_lines, limit_lines, quality_lines, status_text
from .texts import LANGUAGES, OUTCOME_NAMES, T, euros, number, p_value, percent

log = logging.getLogger(__name__)
TEMPLATES = jinja2.Environment(
    loader=jinja2.PackageLoader("pilotmonitor.report", "templates"),
    autoescape=jinja2.select_autoescape(["html", "j2"]),
    undefined=jinja2.StrictUndefined,
)


@dataclass
class ReportFiles:
    pilot_id: str
    directory: Path
    html: dict[str, Path] = field(default_factory=dict)
    pdf: dict[str, Path] = field(default_factory=dict)
    disclosure_log: Path | None = None
    disclosure_status: str | None = None
    pdf_error: str | None = None
    result: str = "interim"
    synthetic: bool = False
    error: str | None = None  # no report: why (e.g. the pilot has no pilot months yet)
    reused: bool = False  # the files on disk were already this report (reuse.py)

    def record(self) -> dict:
        """What reuse.py keeps beside the report (file names relative to its directory)."""
        name = lambda path: path.relative_to(self.directory).as_posix()  # noqa: E731
        return {
            "html": {k: name(v) for k, v in self.html.items()},
            "pdf": {k: name(v) for k, v in self.pdf.items()},
            "disclosure_log": name(self.disclosure_log) if self.disclosure_log else None,
            "disclosure_status": self.disclosure_status,
            "pdf_error": self.pdf_error,
            "result": self.result,
        }

    @classmethod
    def from_record(
        cls, pilot_id: str, directory: Path, record: dict, synthetic: bool
    ) -> ReportFiles:
        return cls(
            pilot_id,
            directory,
            html={k: directory / v for k, v in record["html"].items()},
            pdf={k: directory / v for k, v in record["pdf"].items()},
            disclosure_log=directory / record["disclosure_log"],
            disclosure_status=record["disclosure_status"],
            result=record["result"],
            synthetic=synthetic,
            reused=True,
        )


@dataclass
class CheckedContent:
    """The content after disclosure control, shared by both languages."""

    trend: CheckedOutput
    baselines: CheckedOutput
    models: CheckedOutput
    costs_table: CheckedOutput
    activity: CheckedOutput
    event_points: pd.DataFrame
    effects: list[Effect]


def _html_name(lang: str) -> str:
    return f"report.{lang}.html"


def _check(release: Release, c: ReportContent) -> CheckedContent:
    trend = release.frequency(
        "referral_trend_by_half_year",
        c.trend[
            [
                "role",
                "half",
                "half_start",
                "half_mid",
                "new_referrals",
                "pupil_months",
                "rate_per_100_year",
            ]
        ],
        count_column="new_referrals",
        derived=["rate_per_100_year"],
        extra_counts=["pupil_months"],
    )
    # The absolute-scale numbers rest on the pilot schools' pre-period counts: a small
    # count there would reveal few pupils, so they are suppressed with it (the relative
    # change, from the model, stays).
    base = pd.DataFrame(
        [
            {
                "outcome": e.outcome,
                "baseline_count": e.baseline_count,
                "baseline": e.baseline,
                "effect": e.effect,
                "low": e.low,
                "high": e.high,
            }
            for e in c.effects
            if e.baseline_count is not None
        ]
    )
    if base.empty:
        base = pd.DataFrame(
            columns=["outcome", "baseline_count", "baseline", "effect", "low", "high"]
        )
    baselines = release.frequency(
        "baselines_before_pilot",
        base,
        count_column="baseline_count",
        derived=["baseline", "effect", "low", "high"],
    )
    model_rows = c.estimates[
        c.estimates["role"].isin(["primary", "secondary", "costs"])
        | c.estimates["estimator"].str.startswith("event_study_linear[")
        | (c.estimates["estimator"] == "twfe_poisson_excl_closures")
    ]
    df_resid = [residual_df(r) for _, r in model_rows.iterrows()]
    models = release.model(
        "effect_estimates",
        model_rows[
            [
                "outcome",
                "role",
                "estimator",
                "estimate",
                "ci_lower",
                "ci_upper",
                "n_obs",
                "n_clusters",
            ]
        ]
        .assign(df_resid=df_resid)
        .reset_index(drop=True),
    )
    costs_table = release.magnitude(
        "youth_care_cost_by_group_and_year",
        c.cost_micro[["group", "year", "client_pseudonym", "amount_eur"]],
        by=["group", "year"],
        value="amount_eur",
        contributor="client_pseudonym",
        aggfunc="sum",
    )
    act_cols = ["contacts_pupils", "contacts_parents", "group_sessions", "consultations"]
    activity = release.frequency(
        "pilot_activity_by_month",
        c.activity[["month", "total_activities", *act_cols]],
        count_column="total_activities",
        derived=act_cols,
    )

    ev = c.estimates[c.estimates["estimator"].str.startswith("event_study_linear[")].copy()
    ev["rel_time_bin"] = ev["rel_time_bin"].astype(int)
    effects = list(c.effects)
    suppressed = _suppressed_rows(baselines) | _magnitude_baselines(release, c)
    for e in effects:
        if e.outcome in suppressed:
            e.effect = e.low = e.high = e.baseline = None
    return CheckedContent(
        trend,
        baselines,
        models,
        costs_table,
        activity,
        ev[["rel_time_bin", "estimate", "ci_lower", "ci_upper"]].reset_index(drop=True),
        effects,
    )


def _magnitude_baselines(release: Release, c: ReportContent) -> set[str]:
    """The per-pupil baselines of absence and cost are sums over pupils or clients: checked
    as magnitude cells (threshold, N-K, p%) on their microdata; returns the outcomes whose
    baseline (and so absolute effect) must be suppressed. A cost outcome of one kind of
    care is checked on that kind's clients only (a few placements with stay dominate)."""
    before = c.cost_micro[
        (c.cost_micro["group"] == "pilot") & (c.cost_micro["month"] < c.sample.start_month)
    ]
    reported = {e.outcome for e in c.effects}
    cells = {}
    for o in OUTCOMES.values():  # every youth-care cost outcome: all care, or one kind of care
        if o.kind == "rate" and o.unit == "eur" and (o.kind_of_care is None or o.name in reported):
            of_kind = (
                before
                if o.kind_of_care is None
                else before[before["kind_of_care"] == o.kind_of_care]
            )
            suffix = "" if o.kind_of_care is None else f"_{o.kind_of_care}"
            cells[o.name] = (
                f"cost_baseline{suffix}_before_pilot",
                of_kind[["client_pseudonym", "amount_eur"]],
                "amount_eur",
                "client_pseudonym",
            )
    cells["unauthorised_absence_hours"] = (
        "absence_baseline_before_pilot",
        c.absence_micro,
        "unauthorised_absence_hours",
        "pupil_pseudonym",
    )
    out = set()
    for outcome, (name, micro, value, contributor) in cells.items():
        if micro.empty:
            out.add(outcome)
            continue
        checked = release.magnitude(
            name,
            micro.assign(cell="pilot schools before the pilot"),
            by=["cell"],
            value=value,
            contributor=contributor,
            aggfunc="sum",
        )
        if checked.table[value].isna().any():
            out.add(outcome)
    return out


def _suppressed_rows(checked: CheckedOutput) -> set[str]:
    table, mask = checked.table, checked.suppressed
    if table.empty:
        return set()
    rows = (
        mask.any(axis=1)
        if isinstance(mask, pd.DataFrame)
        else pd.Series(mask, index=table.index).astype(bool)
    )
    return set(table.loc[rows.to_numpy(), "outcome"])


def _img(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


class _FigureSpec(NamedTuple):
    """One chart of a report in one language: what it shows and how to draw it
    (``draw``: a picklable call of a function in charts.py, so a worker process can draw
    it; None when there is nothing to draw)."""

    fid: str
    title: str
    caption: str
    sources: list[CheckedOutput]
    draw: Callable[[], bytes] | None

    @property
    def blocked(self) -> bool:
        return any(s.status == "fail" for s in self.sources)


def _figure_specs(cc: CheckedContent, c: ReportContent, lang: str) -> list[_FigureSpec]:
    from . import charts  # matplotlib: imported when a report is drawn, not for its reuse check

    t = T[lang]
    label = ("SYNTHETISCHE DATA" if lang == "nl" else "SYNTHETIC DATA") if c.synthetic else None
    end = (
        c.sample.window_end + pd.DateOffset(months=1)
        if c.lang_independent_status == "final"
        else None
    )
    models_ok = cc.models.status != "fail"
    forest = pd.DataFrame(
        [
            {
                "name": OUTCOME_NAMES[lang].get(e.outcome, e.outcome),
                "pct": e.pct if e.estimable and models_ok else np.nan,
                "pct_low": e.pct_low if e.estimable and models_ok else np.nan,
                "pct_high": e.pct_high if e.estimable and models_ok else np.nan,
            }
            for e in cc.effects
        ]
    )
    specs = [
        _FigureSpec(
            "trend",
            t["trend_title"],
            t["trend_caption"],
            [cc.trend],
            partial(charts.trend_chart, cc.trend.table, c.sample.start_month, end, t, label),
        ),
        _FigureSpec(
            "event_study",
            t["event_title"],
            t["event_caption"],
            [cc.models],
            partial(charts.event_chart, cc.event_points, t, label)
            if len(cc.event_points)
            else None,
        ),
        _FigureSpec(
            "forest",
            t["forest_title"],
            t["forest_caption"],
            [cc.models],
            partial(charts.forest_chart, forest, t, label) if forest["pct"].notna().any() else None,
        ),
    ]
    if (
        c.costs
        and "avoided_cost_eur" in c.costs
        and pd.notna(c.costs["avoided_cost_eur"].get("estimate"))
    ):
        av = c.costs["avoided_cost_eur"]
        pilot_cost = float(
            c.costs["avoided_cost_eur"].get("pilot_cost_eur")
            or _details(av).get("pilot_cost", float("nan"))
        )
        specs.append(
            _FigureSpec(
                "costs",
                t["costs_title"],
                t["costs_caption"],
                [cc.models],
                partial(
                    charts.costs_chart,
                    pilot_cost,
                    float(av["estimate"]),
                    float(av["ci_lower"]),
                    float(av["ci_upper"]),
                    t,
                    label,
                ),
            )
        )
    if len(cc.activity.table):
        series = {
            "contacts_pupils": "leerlingcontacten" if lang == "nl" else "pupil contacts",
            "contacts_parents": "oudercontacten" if lang == "nl" else "parent contacts",
            "group_sessions": "groepsbijeenkomsten" if lang == "nl" else "group sessions",
            "consultations": "consultaties" if lang == "nl" else "consultations",
        }
        specs.append(
            _FigureSpec(
                "dose",
                t["dose_title"],
                t["dose_caption"],
                [cc.activity],
                partial(charts.dose_chart, cc.activity.table, t, series, label),
            )
        )
    return [s for s in specs if s.draw is not None]


def _figures(
    release: Release,
    specs: list[_FigureSpec],
    drawn: dict[str, Future | bytes],
    lang: str,
    fig_dir: Path,
) -> list[dict]:
    """The page's figures in order, each registered with the release (the disclosure log
    keeps that order) or withheld with its reasons; ``drawn``: each drawable chart's PNG,
    or the future of it, by figure id."""
    t = T[lang]
    figures = []
    for spec in specs:
        fid, title, caption, sources = spec.fid, spec.title, spec.caption, spec.sources
        path = fig_dir / f"{fid}.{lang}.png"
        if spec.blocked:
            checked = release.figure(f"{fid}_{lang}", sources=sources, path=None)
            figures.append(_withheld_figure(fid, title, caption, t, checked))
            continue
        png = _png(spec, drawn[fid])
        atomic_write.write_bytes(path, png)
        checked = release.figure(f"{fid}_{lang}", sources=sources, path=path)
        if checked.status == "fail":
            path.unlink()
            figures.append(_withheld_figure(fid, title, caption, t, checked))
        else:
            figures.append(
                {
                    "id": fid,
                    "title": title,
                    "caption": caption,
                    "src": _img(png),
                    "width": 760,
                    "withheld": None,
                }
            )
    return figures


def _withheld_figure(fid: str, title: str, caption: str, t: dict, checked: CheckedOutput) -> dict:
    """A figure the release checks hold back: title and caption with the reasons, no image."""
    return {
        "id": fid,
        "title": title,
        "caption": caption,
        "src": None,
        "width": 0,
        "withheld": t["withheld"].format(why="; ".join(checked.reasons)[:300]),
    }


def _details(row) -> dict:
    import json

    try:
        return json.loads(row.get("details") or "{}")
    except (TypeError, ValueError):
        return {}


def _cost_table(cc: CheckedContent, c: ReportContent, lang: str) -> dict | None:
    t = T[lang]
    table = cc.costs_table.table
    if table.empty:
        return None
    merged = table.merge(
        c.pupil_years[["group", "year", "pupil_years"]], on=["group", "year"], how="left"
    )
    value_col = "amount_eur"
    years = sorted(merged["year"].unique())
    groups = (("pilot", t["pilot_schools"]), ("comparison", t["comparison_schools"]))
    rows = []
    for key, name in groups:
        row = [name]
        for y in years:
            cell = merged[(merged["group"] == key) & (merged["year"] == y)]
            if cell.empty or pd.isna(cell[value_col].iloc[0]) or not cell["pupil_years"].iloc[0]:
                row.append(t["suppressed"] if not cell.empty else "-")
            else:
                row.append(
                    euros(float(cell[value_col].iloc[0]) / float(cell["pupil_years"].iloc[0]), lang)
                )
        rows.append(row)
    return {"header": [t["group"], *[str(y) for y in years]], "rows": rows}


# units of the estimates table (the absolute scale of each outcome, see content.py)
SHORT_UNITS = {
    "nl": {"hours": "uur/lln/jr", "eur": "€/lln/jr", "points": "punt"},
    "en": {"hours": "h/pupil/yr", "eur": "EUR/pupil/yr", "points": "points"},
}


def _estimate_rows(cc: CheckedContent, lang: str) -> list[list[str]]:
    t = T[lang]
    out = []
    for e in cc.effects:
        name = OUTCOME_NAMES[lang].get(e.outcome, e.outcome)
        if not e.estimable or cc.models.status == "fail":
            out.append(
                [
                    name,
                    "-",
                    "-",
                    p_value(e.p_few_clusters, lang) if e.p_few_clusters is not None else "-",
                    "-",
                ]
            )
            continue
        if e.ratio is not None:
            est, ci = (
                f"IRR {number(e.ratio, lang, 2)}",
                f"{percent(e.pct_low, lang)} .. {percent(e.pct_high, lang)}",
            )
        elif e.effect is not None:
            short = SHORT_UNITS[lang].get(e.unit, "")
            est = f"{number(e.effect, lang, 2)} {short}".strip()
            ci = f"{number(e.low, lang, 2)} .. {number(e.high, lang, 2)}"
        else:
            est, ci = t["suppressed"], t["suppressed"]
        out.append(
            [
                name,
                est,
                ci,
                p_value(e.p_few_clusters, lang) if e.p_few_clusters is not None else "-",
                p_value(e.p_adjusted, lang) if e.p_adjusted is not None else "-",
            ]
        )
    return out


def _cost_lines(c: ReportContent, lang: str) -> list[str]:
    t = T[lang]
    if not c.costs or "avoided_cost_eur" not in c.costs:
        return []
    av = c.costs["avoided_cost_eur"]
    d = _details(av)
    if pd.isna(av.get("estimate")):
        return [
            t["costs_missing"].format(
                why=str(av.get("not_estimable_reason") or "no estimate")[:160]
            )
        ]
    prob = d.get("prob_net_savings_positive")
    return [
        t["costs_sentence"].format(
            cost=euros(float(d.get("pilot_cost", float("nan"))), lang),
            avoided=euros(float(av["estimate"]), lang),
            low=euros(float(av["ci_lower"]), lang),
            high=euros(float(av["ci_upper"]), lang),
            prob=_probability(prob, lang),
        )
    ]


def _probability(prob, lang: str) -> str:
    """A bootstrap share in words a reader trusts: never a flat 0% or 100%."""
    if prob is None:
        return "-"
    prob = float(prob)
    if prob < 0.01:
        return ("kleiner dan " if lang == "nl" else "below ") + "1%"
    if prob > 0.99:
        return ("groter dan " if lang == "nl" else "above ") + "99%"
    return percent(100 * prob, lang, 0, signed=False)


def _render(
    cc: CheckedContent,
    c: ReportContent,
    lang: str,
    figures: list[dict],
    disclosure_status: str,
    rules: DisclosureRules,
    round_section: dict | None = None,
) -> str:
    t = T[lang]
    answers = []
    for e in cc.effects:
        lines = (
            effect_lines(e, lang)
            if cc.models.status != "fail"
            else [t["withheld"].format(why="; ".join(cc.models.reasons)[:200])]
        )
        if e.outcome == "youth_care_cost_per_pupil":
            lines += _cost_lines(c, lang)
        answers.append(
            {"role": e.role, "name": OUTCOME_NAMES[lang].get(e.outcome, e.outcome), "lines": lines}
        )
    prov = c.provenance
    provenance_text = t["provenance_text"].format(
        first=c.data_first.strftime("%Y-%m"),
        last=c.data_last.strftime("%Y-%m"),
        run=prov.get("run_id") or "-",
        code=prov.get("code_version") or "-",
        plan=(prov.get("plan_hash") or "-")[:12],
        input=(prov.get("input_hash") or "-")[:12],
        seed=prov.get("seed") or "-",
        made=prov.get("computed_at") or "-",
    )
    other = [x for x in LANGUAGES if x != lang][0]
    return TEMPLATES.get_template("report.html.j2").render(
        lang=lang,
        t=t,
        pilot=c.pilot,
        synthetic=c.synthetic,
        status_text=status_text(c, lang),
        answers=answers,
        figures=figures,
        cost_table=_cost_table(cc, c, lang),
        estimate_rows=_estimate_rows(cc, lang),
        limits=limit_lines(c, lang),
        quality=quality_lines(c, lang),
        disclosure_text=t["disclosure_text"].format(
            threshold=rules.min_count, status=t[f"status_{disclosure_status}"]
        ),
        provenance_text=provenance_text,
        other_language_file=_html_name(other),
        round_section=round_section,
    )


class IdentifierInReportError(RuntimeError):
    """A rendered report holds a number that passes the BSN or onderwijsnummer check: it
    is not written (neither HTML nor PDF)."""


def _refuse_identifiers(pilot_id: str, documents: dict[str, str]) -> None:
    """The exit check of every report before it is written (the PDF is printed from it)."""
    found = {lang: identifier_forms.find_in_document(html) for lang, html in documents.items()}
    if any(found.values()):
        counts = ", ".join(f"{lang}: {n}" for lang, n in found.items() if n)
        raise IdentifierInReportError(
            f"report {pilot_id} not written: it holds number(s) that pass the BSN/onderwijsnummer "
            f"check ({counts}); a pilot or school name, a label or a value in the estimates "
            "carries one: correct it at the source"
        )


def build_report(
    conn: duckdb.DuckDBPyConnection,
    pilot_id: str,
    reports_dir: Path,
    synthetic: bool,
    pdf: bool = True,
    rules: DisclosureRules | None = None,
    out: Path | None = None,
    extra_section=None,
    printer: PdfPrinter | None = None,
    charts: Executor | None = None,
) -> ReportFiles:
    """Both language versions of one pilot's report (HTML always; PDF when `pdf`), in
    `out` (default <reports dir>/<pilot id>). `extra_section(release)` (an evaluation
    round's comparison, round_report.py) checks its outputs in the report's release and
    returns a function language -> the section for the template. `printer`: a browser
    shared with other reports (default: one for this report). `charts`: a worker process
    (ChartWorker) that draws half of the charts while this one draws the other half
    (default: all drawn here)."""
    draft = _draft(conn, pilot_id, reports_dir, synthetic, rules, out, extra_section, None, charts)
    files, jobs = _write_drafted(draft)
    if pdf:
        _take_pdfs(files, lambda: printer.print(jobs) if printer is not None else print_pdfs(jobs))
    return files


@dataclass
class _Draft:
    """A report read and disclosure-checked whose charts are drawn (or being drawn in a
    worker process); _write_drafted turns it into files."""

    pilot_id: str
    out: Path
    synthetic: bool
    rules: DisclosureRules
    content: ReportContent
    release: Release
    checked: CheckedContent
    section: Callable[[str], object] | None
    specs: dict[str, list[_FigureSpec]]
    drawn: dict[str, dict[str, Future | bytes]]


def _draft(
    conn: duckdb.DuckDBPyConnection,
    pilot_id: str,
    reports_dir: Path,
    synthetic: bool,
    rules: DisclosureRules | None,
    out: Path | None,
    extra_section,
    inputs: PublishedInputs | None = None,
    charts: Executor | None = None,
) -> _Draft:
    """Read and check the report's content and start its charts: in ``charts`` (a worker
    process, while this one goes on with the next report) or here."""
    rules = rules or DisclosureRules.from_acro()
    out = out or reports_dir / pilot_id
    content = read_content(conn, pilot_id, synthetic, inputs)
    release = Release(f"report-{pilot_id}", out_dir=out, rules=rules)
    checked = _check(release, content)
    section = extra_section(release) if extra_section is not None else None
    specs = {lang: _figure_specs(checked, content, lang) for lang in LANGUAGES}
    drawn = {
        lang: {spec.fid: _start(spec, charts) for spec in specs[lang] if not spec.blocked}
        for lang in LANGUAGES
    }
    return _Draft(pilot_id, out, synthetic, rules, content, release, checked, section, specs, drawn)


def _start(spec: _FigureSpec, charts: Executor | None) -> Future | bytes:
    """The chart drawn by ``charts`` (its future) or, without one or when its process has
    died (a run's helper that ran out of memory in an earlier step), here."""
    if charts is not None:
        with contextlib.suppress(BrokenProcessPool):
            return charts.submit(spec.draw)
    return spec.draw()


def _png(spec: _FigureSpec, drawn: Future | bytes) -> bytes:
    if not isinstance(drawn, Future):
        return drawn
    try:
        return drawn.result()
    except BrokenProcessPool:  # the drawing process died meanwhile: drawn here
        return spec.draw()


def _draw_unstarted(draft: _Draft) -> None:
    """The charts the worker process has not started are drawn here, last first, while it
    works from the first: the two meet in the middle instead of this process waiting."""
    for lang in reversed(LANGUAGES):
        for spec in reversed(draft.specs[lang]):
            png = draft.drawn[lang].get(spec.fid)
            if isinstance(png, Future) and png.cancel():
                draft.drawn[lang][spec.fid] = spec.draw()


def _write_drafted(draft: _Draft) -> tuple[ReportFiles, list[PdfJob]]:
    """The drafted report's HTML files and disclosure log, written (waiting for its charts);
    the PDFs to print from them."""
    out, content, release, checked = draft.out, draft.content, draft.release, draft.checked
    _draw_unstarted(draft)
    fig_dir = out / "figures"
    fig_dir.mkdir(parents=True, exist_ok=True)
    files = ReportFiles(
        draft.pilot_id, out, result=content.lang_independent_status, synthetic=draft.synthetic
    )
    pages = {
        lang: _figures(release, draft.specs[lang], draft.drawn[lang], lang, fig_dir)
        for lang in LANGUAGES
    }
    status = release.status
    section = draft.section
    documents = {
        lang: _render(
            checked,
            content,
            lang,
            pages[lang],
            status,
            draft.rules,
            section(lang) if section else None,
        )
        for lang in LANGUAGES
    }
    _refuse_identifiers(draft.pilot_id, documents)
    for lang, html in documents.items():
        path = out / _html_name(lang)
        atomic_write.write_text(path, html)
        files.html[lang] = path
    files.disclosure_log = release.write_log()
    files.disclosure_status = release.status
    jobs = [
        PdfJob(
            files.html[lang],
            out / f"report.{lang}.pdf",
            T[lang]["synthetic_banner"] if draft.synthetic else "",
            T[lang]["page"],
        )
        for lang in LANGUAGES
    ]
    return files, jobs


def _take_pdfs(files: ReportFiles, printed: Callable[[], list[Path]]) -> None:
    """The report's PDFs from ``printed`` (in LANGUAGES order), or why there are none."""
    try:
        files.pdf = dict(zip(LANGUAGES, printed()))
    except BrowserMissing as exc:
        files.pdf_error = str(exc)
        log.warning("report %s: PDF not written: %s", files.pilot_id, exc)


def build_reports(
    conn: duckdb.DuckDBPyConnection,
    pilot_ids: list[str],
    reports_dir: Path,
    synthetic: bool,
    pdf: bool = True,
    reuse: bool = True,
    run_id: str | None = None,
) -> list[ReportFiles]:
    """Every pilot's report; a pilot that cannot have one (no estimates, no pilot months in
    the data yet) gets a ReportFiles with `error` set and does not stop the others. With
    `reuse`, a report whose inputs, code and packages are unchanged is kept as it is
    (`run_id`: the pipeline run whose publication step logged the published content).

    The browser prints a report's PDFs in a thread of its own and a worker process draws
    a report's charts while this one reads and checks the next report; a report's reuse
    record is written once its PDFs are."""
    from pilotmonitor.evaluation.sample import AnalysisInputError, read_published

    unwritable = (LookupError, AnalysisInputError, IdentifierInReportError)
    rules = DisclosureRules.from_acro()
    shared = report_reuse.shared_inputs(conn, synthetic, pdf, rules, run_id)
    files: list[ReportFiles | None] = []
    inputs: PublishedInputs | None = None  # read at the first report built, then shared
    printing: _Printing | None = None
    drafted: tuple[int, _Draft, str] | None = None  # its charts are being drawn

    def write(index: int, draft: _Draft, key: str) -> None:
        nonlocal printing
        try:
            built, jobs = _write_drafted(draft)
        except unwritable as exc:
            log.warning("report %s not written: %s", draft.pilot_id, exc)
            files[index] = _not_written(draft.pilot_id, draft.out, synthetic, exc)
            return
        if printing is not None:
            printing.finish()
        printing = _Printing(built, key, printer.submit(jobs) if pdf else None)
        files[index] = built

    # one browser for every report that is (re)built; one chart worker, or the run's helpers
    # (charts were about half of a report's time in this process; a single report draws its
    # own)
    with BackgroundPrinter() as printer, ChartWorker(len(pilot_ids) > 1) as charts:
        for pid in pilot_ids:
            directory = reports_dir / pid
            key = report_reuse.report_key(conn, pid, shared)
            record = report_reuse.recorded(directory, key) if reuse else None
            files.append(None)
            if record is not None:
                files[-1] = ReportFiles.from_record(pid, directory, record, synthetic)
                continue
            report_reuse.forget(directory)
            pool = charts.pool()  # a worker of its own starts here: imports overlap the reading
            try:
                inputs = read_published(conn) if inputs is None else inputs
                draft = _draft(conn, pid, reports_dir, synthetic, rules, None, None, inputs, pool)
            except unwritable as exc:
                log.warning("report %s not written: %s", pid, exc)
                files[-1] = _not_written(pid, directory, synthetic, exc)
                continue
            if drafted is not None:
                write(*drafted)
            drafted = (len(files) - 1, draft, key)
        if drafted is not None:
            write(*drafted)
        if printing is not None:
            printing.finish()
    assert None not in files, "every pilot's slot is filled above"
    return files  # type: ignore[return-value]


def _not_written(pilot_id: str, directory: Path, synthetic: bool, exc: Exception) -> ReportFiles:
    return ReportFiles(pilot_id, directory, synthetic=synthetic, result="none", error=str(exc))


class ChartWorker:
    """A worker process that draws reports' charts (build_reports; the demo's evaluation
    rounds share one), started at the first ``pool()`` (none when every report is reused
    or ``wanted`` is false). Within a `pilotmonitor run`, its helper processes instead
    (pilotmonitor/run_helpers.py: running, with matplotlib imported while `dbt build`
    worked)."""

    def __init__(self, wanted: bool):
        self._wanted = wanted
        self._pool: Executor | None = None

    def pool(self) -> Executor | None:
        from pilotmonitor import run_helpers

        helpers = run_helpers.current()
        if self._wanted and helpers is not None:
            return helpers  # type: ignore[return-value]  # submit() as an Executor's
        if self._wanted and self._pool is None:
            from pilotmonitor.worker_processes import spawned_pool

            self._pool = spawned_pool(1)
            # a pool starts its process at the first task: start it now with the imports,
            # so that they overlap what this process does before the first chart
            self._pool.submit(_import_charts)
        return self._pool

    def __enter__(self) -> ChartWorker:
        return self

    def __exit__(self, *exc) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)


def _import_charts() -> None:
    from . import charts  # noqa: F401 - matplotlib, once per worker


@dataclass
class _Printing:
    """A written report whose PDFs the browser may still be printing."""

    files: ReportFiles
    key: str | None
    pdfs: Future | None

    def finish(self) -> None:
        """Wait for the PDFs, then record the report for reuse."""
        if self.pdfs is not None:
            _take_pdfs(self.files, self.pdfs.result)
        report_reuse.write_record(self.files.directory, self.key, self.files.record())


__all__ = ["ReportFiles", "build_report", "build_reports"]
