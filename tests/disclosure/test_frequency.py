"""Pre-aggregated count tables: threshold, zeros, derived values, rows kept."""

import numpy as np
import pandas as pd
import pytest

from pilotmonitor.disclosure import Release, display_table


def trend(counts, rates=None):
    n = len(counts)
    return pd.DataFrame(
        {
            "group": ["pilot", "comparison"] * (n // 2) + ["pilot"] * (n % 2),
            "half_year": [f"2023H{i % 2 + 1}" for i in range(n)],
            "new_referrals": counts,
            "rate_per_100": rates if rates is not None else [round(c / 7.0, 2) for c in counts],
        }
    )


def test_small_cell_and_its_rate_are_suppressed_row_kept(release: Release):
    table = trend([25, 3, 40, 18])
    out = release.frequency(
        "trend_referrals", table, count_column="new_referrals", derived=["rate_per_100"]
    )

    assert out.status == "review"
    assert len(out.table) == 4, "rows are never dropped"
    assert np.isnan(out.table.loc[1, "new_referrals"]) and np.isnan(
        out.table.loc[1, "rate_per_100"]
    )
    assert out.table.loc[1, "group"] == table.loc[1, "group"]
    assert out.suppressed.loc[1, "new_referrals"] and out.suppressed.loc[1, "rate_per_100"]
    assert not out.suppressed.loc[1, "group"]
    assert out.suppressed.to_numpy().sum() == 2 and out.n_suppressed == 2
    assert (
        out.table.loc[0, "new_referrals"] == 25
        and out.table.loc[0, "rate_per_100"] == table.loc[0, "rate_per_100"]
    )
    threshold = next(c for c in out.checks if c["rule"] == "threshold")
    assert (
        threshold["threshold"] == 10
        and threshold["cells_flagged"] == 1
        and threshold["outcome"] == "review"
    )
    assert any("threshold" in r and "10" in r and "1 of 4" in r for r in out.reasons)
    assert list(display_table(out).loc[1, ["new_referrals", "rate_per_100"]]) == ["x", "x"]


def test_clean_table_passes_unchanged(release: Release):
    table = trend([25, 10, 40, 18])
    out = release.frequency("clean", table, count_column="new_referrals", derived=["rate_per_100"])
    assert out.status == "pass" and out.reasons == []
    assert out.n_suppressed == 0
    pd.testing.assert_frame_equal(out.table, table, check_dtype=False)


def test_threshold_boundary_nine_is_suppressed_ten_is_not(release: Release):
    out = release.frequency("boundary", trend([9, 10]), count_column="new_referrals")
    assert out.suppressed["new_referrals"].tolist() == [True, False]


def test_zeros_follow_acros_setting(release: Release, rules, tmp_path):
    out = release.frequency(
        "zeros", trend([0, 30]), count_column="new_referrals", derived=["rate_per_100"]
    )
    assert out.suppressed["rate_per_100"].tolist() == [True, False]
    assert next(c for c in out.checks if c["rule"] == "zeros")["cells_flagged"] == 1

    lenient = Release("lenient", tmp_path / "lenient", rules.with_(zeros_are_disclosive=False))
    out = lenient.frequency(
        "zeros", trend([0, 30]), count_column="new_referrals", derived=["rate_per_100"]
    )
    assert out.status == "pass" and out.table.loc[0, "new_referrals"] == 0


def test_small_denominator_suppresses_the_row(release: Release):
    table = trend([12, 15]).assign(pupils=[8, 200])
    out = release.frequency(
        "rates",
        table,
        count_column="new_referrals",
        derived=["rate_per_100"],
        extra_counts=["pupils"],
    )
    assert out.suppressed.loc[0, ["new_referrals", "rate_per_100", "pupils"]].all()
    assert not out.suppressed.loc[1].any()


def test_undeclared_numeric_column_needs_review(release: Release):
    table = trend([25, 30]).assign(share=[0.4, 0.6], year=[2023, 2023])
    out = release.frequency(
        "undeclared", table, count_column="new_referrals", derived=["rate_per_100"]
    )
    assert out.status == "review"
    check = next(c for c in out.checks if c["rule"] == "undeclared_numeric")
    assert check["detail"] == "share", (
        "an integer year column is a label; the float share is not declared"
    )


def test_unknown_column_is_an_error(release: Release):
    with pytest.raises(KeyError):
        release.frequency("bad", trend([25, 30]), count_column="referrals")


def test_exposure_counts_are_not_mistaken_for_period_labels(release: Release):
    table = trend([25, 30]).assign(pupil_months=[1200, 1300], month=[1, 2])
    out = release.frequency(
        "exposure", table, count_column="new_referrals", derived=["rate_per_100"]
    )
    assert (
        next(c for c in out.checks if c["rule"] == "undeclared_numeric")["detail"] == "pupil_months"
    )
    declared = release.frequency(
        "exposure_declared",
        table,
        count_column="new_referrals",
        derived=["rate_per_100"],
        extra_counts=["pupil_months"],
    )
    assert declared.status == "pass"


def test_input_table_is_not_modified(release: Release):
    table = trend([3, 30])
    before = table.copy()
    release.frequency("trend", table, count_column="new_referrals", derived=["rate_per_100"])
    pd.testing.assert_frame_equal(table, before)


def test_the_input_index_is_kept(release: Release):
    table = trend([3, 30]).set_axis(["a", "b"])
    out = release.frequency("indexed", table, count_column="new_referrals")
    assert list(out.table.index) == ["a", "b"] and out.suppressed.loc["a", "new_referrals"]
