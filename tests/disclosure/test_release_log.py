"""The release: overall status and the disclosure log an output checker reads."""

import csv
import json

import pandas as pd
import pytest

from pilotmonitor.disclosure import DisclosureError, Release

from .conftest import micro_costs, spread


def build(release: Release):
    ct = release.frequency(
        "trend_referrals",
        pd.DataFrame(
            {"half_year": ["H1", "H2"], "new_referrals": [3, 40], "rate_per_100": [0.5, 4.0]}
        ),
        count_column="new_referrals",
        derived=["rate_per_100"],
    )
    mt = release.magnitude(
        "costs_by_year",
        micro_costs({("pilot", 2023): spread(30)}),
        by=["group", "year"],
        value="cost_eur",
        contributor="pupil_pseudonym",
    )
    mo = release.model(
        "effect_estimates", pd.DataFrame({"estimate": [0.1], "n_obs": [10], "df_resid": [5]})
    )
    fo = release.figure("trend_chart", sources=[ct], path=release.out_dir / "trend.png")
    return ct, mt, mo, fo


def test_log_lists_every_output_with_status(release: Release):
    build(release)
    path = release.write_log()
    assert path == release.out_dir / "disclosure_log.json"
    log = json.loads(path.read_text(encoding="utf-8"))

    assert log["release"] == "test-release" and log["created_at"]
    assert log["status"] == "fail" == release.status
    assert log["rules"]["min_count"] == 10 and "ACRO" in log["rules"]["source"]
    statuses = {o["name"]: o["status"] for o in log["outputs"]}
    assert statuses == {
        "trend_referrals": "review",
        "costs_by_year": "pass",
        "effect_estimates": "fail",
        "trend_chart": "pass",
    }
    trend = next(o for o in log["outputs"] if o["name"] == "trend_referrals")
    assert trend["kind"] == "frequency" and trend["cells_suppressed"] == 2 and trend["reasons"]
    assert {"rule", "threshold", "cells_checked", "cells_flagged", "outcome"} <= set(
        trend["checks"][0]
    )
    chart = next(o for o in log["outputs"] if o["name"] == "trend_chart")
    assert chart["path"].endswith("trend.png") and chart["sources"] == ["trend_referrals"]

    markdown = (release.out_dir / "disclosure_log.md").read_text(encoding="utf-8")
    assert "Overall status: **FAIL**" in markdown
    for name in statuses:
        assert f"| {name} |" in markdown
    with (release.out_dir / "disclosure_checks.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert {r["output"] for r in rows} == set(statuses)


def test_overall_status_is_the_worst_output(release: Release):
    assert release.status == "pass"  # nothing released yet
    release.frequency("clean", pd.DataFrame({"n": [20]}), count_column="n")
    assert release.status == "pass"
    release.frequency("small", pd.DataFrame({"n": [2]}), count_column="n")
    assert release.status == "review"
    release.model("bad", pd.DataFrame({"n_obs": [3], "df_resid": [1]}))
    assert release.status == "fail"


def test_export_marks_suppressed_cells_and_refuses_failed_outputs(release: Release):
    ct, _, mo, _ = build(release)
    path = release.export(ct)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[1] == "H1,x,x" and lines[2] == "H2,40,4.0"
    with pytest.raises(DisclosureError):
        release.export(mo)
    release.write_log()
    log = json.loads((release.out_dir / "disclosure_log.json").read_text(encoding="utf-8"))
    assert next(o for o in log["outputs"] if o["name"] == "trend_referrals")["path"] == str(path)


def test_output_names_are_unique_within_a_release(release: Release):
    release.frequency("same", pd.DataFrame({"n": [20]}), count_column="n")
    with pytest.raises(ValueError):
        release.frequency("same", pd.DataFrame({"n": [20]}), count_column="n")
