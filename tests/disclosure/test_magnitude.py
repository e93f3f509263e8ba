"""Magnitude tables from microdata: threshold on distinct contributors, N-K, p%,
forbidden statistics, and agreement with ACRO on the same data."""

import contextlib
import io
import logging
import warnings

import numpy as np
import pandas as pd
import pytest

from pilotmonitor.disclosure import DisclosureError, Release

from .conftest import micro_costs, spread


def cell(out, group, year):
    row = out.table.index[(out.table["group"] == group) & (out.table["year"] == year)]
    assert len(row) == 1
    return row[0]


def rule_flags(out, rule):
    return next(c for c in out.checks if c["rule"] == rule)["cells_flagged"]


def test_dominated_cell_is_suppressed_by_nk(release: Release):
    others = spread(19)
    big = 0.95 / 0.05 * sum(others)  # one pupil holds 95% of the cell's sum
    micro = micro_costs({("pilot", 2023): [big, *others], ("comparison", 2023): spread(20, seed=1)})
    out = release.magnitude(
        "costs_by_year",
        micro,
        by=["group", "year"],
        value="cost_eur",
        contributor="pupil_pseudonym",
        aggfunc="sum",
    )

    i = cell(out, "pilot", 2023)
    assert out.status == "review"
    assert np.isnan(out.table.loc[i, "cost_eur"]) and out.suppressed.loc[i, "cost_eur"]
    assert rule_flags(out, "nk") == 1 and rule_flags(out, "threshold") == 0
    j = cell(out, "comparison", 2023)
    assert out.table.loc[j, "cost_eur"] == pytest.approx(sum(spread(20, seed=1)))
    assert any(r.startswith("nk:") and "90%" in r for r in out.reasons)


def test_p_percent_rule_flags_what_nk_lets_through(release: Release, rules, tmp_path):
    # With the defaults (n=2, k=0.9, p=0.1) a p% failure implies an N-K failure, so the
    # p% rule is shown on its own with a looser k.
    loose = Release("loose-k", tmp_path / "loose", rules.with_(nk_k=0.99))
    rest_small = [60.0, 35.0] + [
        0.5
    ] * 10  # rest 5 = 8.3% of the largest: p% fails; top-2 share 95% < 99%
    rest_enough = [60.0, 28.0] + [1.2] * 10  # rest 12 = 20% of the largest: passes
    micro = micro_costs({("pilot", 2023): rest_small, ("comparison", 2023): rest_enough})
    out = loose.magnitude(
        "costs", micro, by=["group", "year"], value="cost_eur", contributor="pupil_pseudonym"
    )
    assert out.suppressed["cost_eur"].tolist() == [False, True]  # sorted: comparison, pilot
    assert rule_flags(out, "p_percent") == 1 and rule_flags(out, "nk") == 0
    assert out.table.loc[cell(out, "comparison", 2023), "cost_eur"] == pytest.approx(
        sum(rest_enough)
    )


def test_threshold_counts_distinct_contributors_not_records(release: Release):
    # 5 pupils with 4 invoice lines each: 20 records but only 5 contributors.
    micro = micro_costs(
        {("pilot", 2023): spread(5), ("comparison", 2023): spread(12, seed=2)}, lines_per_pupil=4
    )
    out = release.magnitude(
        "costs", micro, by=["group", "year"], value="cost_eur", contributor="pupil_pseudonym"
    )
    assert out.suppressed.loc[cell(out, "pilot", 2023), "cost_eur"]
    assert not out.suppressed.loc[cell(out, "comparison", 2023), "cost_eur"]
    assert rule_flags(out, "threshold") == 1


def test_clean_magnitude_table_passes_with_mean(release: Release):
    micro = micro_costs({("pilot", 2023): spread(30), ("comparison", 2023): spread(25, seed=3)})
    out = release.magnitude(
        "mean_costs",
        micro,
        by=["group", "year"],
        value="cost_eur",
        contributor="pupil_pseudonym",
        aggfunc="mean",
    )
    assert out.status == "pass", out.reasons
    assert out.table.loc[cell(out, "pilot", 2023), "cost_eur"] == pytest.approx(np.mean(spread(30)))


def test_negative_contributions_are_suppressed(release: Release):
    micro = micro_costs(
        {("pilot", 2023): [-50.0, *spread(20)], ("comparison", 2023): spread(20, seed=4)}
    )
    out = release.magnitude(
        "costs", micro, by=["group", "year"], value="cost_eur", contributor="pupil_pseudonym"
    )
    assert (
        out.suppressed.loc[cell(out, "pilot", 2023), "cost_eur"]
        and rule_flags(out, "negative") == 1
    )


@pytest.mark.parametrize("aggfunc", ["min", "max", "median", np.max, "first"])
def test_individual_value_statistics_are_forbidden(release: Release, aggfunc):
    micro = micro_costs({("pilot", 2023): spread(30)})
    with pytest.raises(DisclosureError):
        release.magnitude(
            "costs_max",
            micro,
            by=["group", "year"],
            value="cost_eur",
            contributor="pupil_pseudonym",
            aggfunc=aggfunc,
        )
    logged = release.outputs["costs_max"]
    assert logged.status == "fail" and release.status == "fail"


def test_pseudonym_as_a_dimension_fails(release: Release):
    micro = micro_costs({("pilot", 2023): spread(30)})
    out = release.magnitude(
        "per_pupil", micro, by=["pupil_pseudonym"], value="cost_eur", contributor="pupil_pseudonym"
    )
    assert out.status == "fail"
    assert any("identifiers" in r for r in out.reasons)


def acro_suppressed(micro: pd.DataFrame) -> pd.DataFrame:
    """ACRO's own suppressed pivot table (group x year), run independently of our code."""
    root = logging.getLogger()
    placeholder = logging.NullHandler()
    root.addHandler(placeholder)
    try:
        with (
            warnings.catch_warnings(),
            contextlib.redirect_stdout(io.StringIO()),
            contextlib.redirect_stderr(io.StringIO()),
        ):
            warnings.simplefilter("ignore")
            import acro

            logging.getLogger("acro").setLevel(logging.ERROR)
            session = acro.ACRO(suppress=True)
            return session.pivot_table(
                micro, values="cost_eur", index="group", columns="year", aggfunc="sum"
            )
    finally:
        root.removeHandler(placeholder)


def test_suppression_agrees_with_acro_on_the_same_microdata(release: Release):
    rng = np.random.default_rng(42)
    cells = {}
    for g, group in enumerate(["pilot", "comparison", "control"]):
        for year in (2021, 2022, 2023):
            amounts = spread(int(rng.integers(12, 40)), seed=10 * g + year)
            cells[(group, year)] = amounts
    cells[("pilot", 2021)] = spread(4, seed=1)  # threshold
    others = spread(15, seed=2)
    cells[("comparison", 2022)] = [19 * sum(others), *others]  # N-K (95%)
    cells[("control", 2023)] = [1000.0, 900.0] + [9.0] * 10  # p% and N-K
    micro = micro_costs(cells)  # one record per pupil: ACRO's per-record view is the same as ours

    out = release.magnitude(
        "agreement", micro, by=["group", "year"], value="cost_eur", contributor="pupil_pseudonym"
    )
    ours = out.suppressed.assign(group=out.table["group"], year=out.table["year"]).set_index(
        ["group", "year"]
    )["cost_eur"]
    theirs = acro_suppressed(micro).stack(future_stack=True).isna()
    theirs.index.names = ["group", "year"]
    theirs = theirs.reindex(ours.index)

    assert theirs.notna().all()
    assert ours.tolist() == theirs.astype(bool).tolist()
    assert int(ours.sum()) == 3
    released = out.table.set_index(["group", "year"])["cost_eur"]
    acro_values = acro_suppressed(micro).stack(future_stack=True).reindex(ours.index)
    np.testing.assert_allclose(released.to_numpy(), acro_values.to_numpy(), equal_nan=True)
    crosscheck = next(c for c in out.checks if c["rule"] == "acro_crosscheck")
    assert (
        crosscheck["outcome"] == "pass"
        and "0 flagged only by ACRO, 0 only by our rules" in crosscheck["detail"]
    )


def test_acro_does_not_configure_the_root_logger(release: Release):
    before = list(logging.getLogger().handlers)
    micro = micro_costs({("pilot", 2023): spread(30)})
    release.magnitude(
        "costs", micro, by=["group", "year"], value="cost_eur", contributor="pupil_pseudonym"
    )
    assert logging.getLogger().handlers == before


def test_acro_records_the_calling_line_without_walking_the_whole_stack(rules):
    """ACRO keeps the source line that asked for each table; the bridge hands ACRO the two
    frames it reads instead of a full ``inspect.stack()`` (seconds per run under Dagster),
    and the recorded line is still the caller's."""
    import acro

    from pilotmonitor.disclosure.acro_bridge import AcroSession, _caller_frames

    session = AcroSession(rules)
    assert acro.acro_tables.stack is _caller_frames
    data = micro_costs({("pilot", 2024): spread(12), ("comparison", 2024): spread(15)})
    session.check_table(data, ["group", "year"], "cost_eur", "sum")
    record = list(session._acro.results.results.values())[-1]
    assert record.command.startswith("self._acro.pivot_table(")


def test_acro_verdicts_do_not_depend_on_how_tables_print(rules, monkeypatch):
    """Inside ACRO calls tables print short (ACRO formats whole tables into log messages it
    then drops); its verdicts and summaries must be the same as with pandas' own display
    options, and the caller's options come back afterwards."""
    from pilotmonitor.disclosure import acro_bridge

    cells = {("pilot", 2021): spread(4, seed=1), ("comparison", 2021): spread(20, seed=3)}
    others = spread(15, seed=2)
    cells[("comparison", 2022)] = [19 * sum(others), *others]  # dominated: N-K
    cells[("control", 2023)] = [1000.0, 900.0] + [9.0] * 10  # p% and N-K
    micro = micro_costs(cells)
    short = acro_bridge.AcroSession(rules).check_table(micro, ["group", "year"], "cost_eur", "sum")
    with pd.option_context("display.max_rows", 7):
        monkeypatch.setattr(
            acro_bridge,
            "_SHORT_TABLE_TEXT",
            ("display.max_rows", 60, "display.min_rows", 10, "display.max_columns", 20),
        )
        full = acro_bridge.AcroSession(rules).check_table(
            micro, ["group", "year"], "cost_eur", "sum"
        )
        assert pd.get_option("display.max_rows") == 7
    pd.testing.assert_frame_equal(short.flags, full.flags)
    assert int(short.flags.to_numpy().sum()) >= 3
    assert (short.status, short.summary) == (full.status, full.summary)
