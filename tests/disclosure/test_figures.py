"""Figures inherit the verdicts of the checked outputs they are drawn from."""

from pathlib import Path

import pandas as pd

from pilotmonitor.disclosure import Release


def table(counts):
    return pd.DataFrame(
        {"half_year": [f"H{i}" for i in range(len(counts))], "new_referrals": counts}
    )


def test_figure_from_a_failed_source_fails(release: Release):
    failed = release.model(
        "effects", pd.DataFrame({"estimate": [1.0], "n_obs": [8], "df_resid": [5]})
    )
    out = release.figure("effect_chart", sources=[failed], path=Path("effects.png"))
    assert failed.status == "fail" and out.status == "fail"
    assert any("effects" in r for r in out.reasons)


def test_figure_from_clean_or_suppressed_sources_passes(release: Release):
    clean = release.frequency("clean", table([20, 30]), count_column="new_referrals")
    suppressed = release.frequency("suppressed", table([3, 30]), count_column="new_referrals")
    assert suppressed.status == "review"
    out = release.figure("trend_chart", sources=[clean, suppressed], path=Path("trend.png"))
    assert out.status == "pass" and out.sources == ["clean", "suppressed"]


def test_figure_from_a_source_awaiting_judgement_needs_review(release: Release):
    unjudged = release.model("effects", pd.DataFrame({"estimate": [1.0], "n_obs": [800]}))
    assert release.figure("chart", sources=[unjudged]).status == "review"


def test_figure_from_unchecked_data_fails(release: Release, tmp_path):
    raw = table([20, 30])
    assert release.figure("raw_chart", sources=[raw]).status == "fail"
    other = Release("other", tmp_path / "other")
    foreign = other.frequency("clean", table([20, 30]), count_column="new_referrals")
    assert release.figure("foreign_chart", sources=[foreign]).status == "fail"
    assert release.figure("no_sources", sources=[]).status == "fail"


def test_blocked_file_type_fails(release: Release):
    clean = release.frequency("clean", table([20, 30]), count_column="new_referrals")
    assert release.figure("svg_chart", sources=[clean], path=Path("trend.svg")).status == "fail"
