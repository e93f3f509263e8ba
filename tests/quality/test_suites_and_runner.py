"""Suites are consistent with the code-list seeds; the runner flags planted problems on
small hand-made frames with readable messages and without identifiers."""

import csv
import json

import numpy as np
import pandas as pd

from pilotmonitor.ingest.contracts import RAW_TABLES
from pilotmonitor.quality import suites as S
from pilotmonitor.quality.runner import DeliveryInfo, validate_frame

SEEDS = S.REPO_ROOT / "dbt_project" / "seeds" / "codes"


def seed(name):
    with (SEEDS / f"{name}.csv").open(encoding="utf-8") as f:
        return sorted(r["code"] for r in csv.DictReader(f))


def test_one_suite_per_raw_table_with_severity_and_message():
    files = {p.stem for p in S.EXPECTATIONS_DIR.glob("*.json")}
    assert files == set(RAW_TABLES)
    for table in RAW_TABLES:
        suite = json.loads((S.EXPECTATIONS_DIR / f"{table}.json").read_text())
        assert suite["expectations"]
        for e in suite["expectations"]:
            assert (
                e["meta"]["severity"] in ("error", "warning")
                and len(e["meta"]["steward_message"]) > 10
            )
        S.gx_suite(table, S.row_level_expectations(suite))  # every expectation is valid GX 1.x


def test_suite_value_sets_equal_the_dbt_seed_codes():
    checked = 0
    for table in RAW_TABLES:
        for column, (code_list, values) in S.value_sets(table).items():
            assert sorted(values) == seed(code_list), (
                f"{table}.{column} vs seeds/codes/{code_list}.csv"
            )
            checked += 1
    assert checked >= 10
    assert "ijw_referrer_types" in {cl for cl, _ in S.value_sets("ijw_requests").values()}


def test_period_bounds():
    assert S.period_bounds("school_year", "2020-2021") == (
        pd.Timestamp("2020-08-01").date(),
        pd.Timestamp("2021-07-31").date(),
    )
    assert S.period_bounds("month", "2024-02")[1].day == 29
    assert S.period_bounds("month", "") is None


def absence(n=200, seed_=1):
    rng = np.random.default_rng(seed_)
    return pd.DataFrame(
        {
            "delivery_id": "d1",
            "row_locator": [str(i) for i in range(n)],
            "pupil_pseudonym": [f"{i:064x}" for i in range(n)],
            "id_kind": "bsn",
            "key_version": "demo",
            "school_id": "99GA00",
            "absence_date": pd.Timestamp("2020-09-01")
            + pd.to_timedelta(rng.integers(0, 300, n), unit="D"),
            "hours": rng.uniform(0.5, 6, n).round(1),
            "authorised": rng.random(n) < 0.7,
            "reason": "Ziek",
        }
    )


def failed(outcomes, severity=None):
    return [o for o in outcomes if not o.success and (severity is None or o.severity == severity)]


def test_clean_absence_frame_passes():
    assert failed(validate_frame("school_absence", absence(), "2020-2021")) == []


def test_shifted_dates_fail_as_error_without_identifiers():
    frame = absence()
    frame["absence_date"] += pd.DateOffset(years=1)
    bad = failed(validate_frame("school_absence", frame, "2020-2021"), "error")
    assert [o.column for o in bad] == ["absence_date"]
    assert bad[0].unexpected_count == len(frame) and "shifted" in bad[0].steward_message
    assert bad[0].examples and all("pseudonym" not in e for e in bad[0].examples)


def test_day_month_swap_fails():
    frame = absence()
    d = frame["absence_date"]
    swappable = d.dt.day <= 12
    frame.loc[swappable, "absence_date"] = pd.to_datetime(
        dict(year=d[swappable].dt.year, month=d[swappable].dt.day, day=d[swappable].dt.month)
    )
    assert "absence_date" in [
        o.column for o in failed(validate_frame("school_absence", frame, "2020-2021"), "error")
    ]


def test_duplicate_keys_give_no_pseudonym_examples():
    frame = absence()
    frame = pd.concat([frame, frame.head(3)], ignore_index=True)
    bad = [
        o
        for o in failed(validate_frame("school_absence", frame, "2020-2021"))
        if o.expectation_type == "expect_compound_columns_to_be_unique"
    ]
    assert bad and bad[0].unexpected_count == 6
    assert all(len(e) < 64 and "0000000" not in e for e in bad[0].examples)


def test_row_count_against_history_is_a_warning():
    outcomes = validate_frame(
        "school_absence", absence(500), "2020-2021", history=[1000, 1050, 950]
    )
    rc = [o for o in outcomes if o.expectation_type == "expect_table_row_count_to_be_between"][0]
    # exactly half is flagged
    assert not rc.success and rc.severity == "warning" and "expected 501-2000" in rc.examples[0]
    ok = [
        o
        for o in validate_frame("school_absence", absence(100), "2020-2021", history=[100, 100])
        if o.expectation_type.endswith("row_count_to_be_between")
    ][0]
    assert ok.success and "not enough history" in ok.examples[0]


def test_row_count_reads_the_six_most_recent_deliveries_and_counts_them_all():
    """A sender's history holds every delivery for years: the bounds come from the six most
    recent (most recent first), the note counts every one."""
    history = [1000, 1050, 950, 1000, 1020, 980] + [10] * 20  # older exports were tiny
    rc = [
        o
        for o in validate_frame("school_absence", absence(700), "2020-2021", history=history)
        if o.expectation_type.endswith("row_count_to_be_between")
    ][0]
    assert rc.success and "expected 501-2000 (98.1 rows per month: median of 6 " in rc.examples[0]
    small = [
        o
        for o in validate_frame("school_absence", absence(10), "2020-2021", history=[10] * 26)
        if o.expectation_type.endswith("row_count_to_be_between")
    ][0]
    assert small.success and "not enough history (26 previous deliveries" in small.examples[0]


def requests(n=100, referrer="01"):
    return pd.DataFrame(
        {
            "delivery_id": "r1",
            "row_locator": [f"JW315_{i}.xml" for i in range(n)],
            "message_id": [f"315{i:09d}" for i in range(n)],
            "provider_agb": "99000011",
            "municipality_code": "0014",
            "message_date": pd.Timestamp("2021-03-10"),
            "client_pseudonym": [f"{i:064x}" for i in range(n)],
            "id_kind": "bsn",
            "key_version": "demo",
            "birth_month": pd.Timestamp("2010-01-01"),
            "sex": "1",
            "provider_reference": "REF1",
            "product_category": "45",
            "product_code": "45A01",
            "requested_start": pd.Timestamp("2021-04-01"),
            "requested_end": pd.NaT,
            "volume": 10,
            "unit": "04",
            "frequency": "2",
            "referrer_type": referrer,
        }
    )


def test_unknown_referrer_burst_is_a_value_set_error():
    frame = requests()
    frame.loc[:39, "referrer_type"] = "99"
    bad = failed(validate_frame("ijw_requests", frame, "2021-03"), "error")
    assert [(o.expectation_type, o.column) for o in bad] == [
        ("expect_column_values_to_be_in_set", "referrer_type")
    ]
    assert (
        bad[0].unexpected_count == 40
        and bad[0].examples == ["99"]
        and "COD327" in bad[0].steward_message
    )
    # message ids (12 digits) and AGB codes never appear unscrubbed
    assert failed(validate_frame("ijw_requests", requests(), "2021-03")) == []


def test_multi_delivery_group_attributes_failures_per_delivery():
    from pilotmonitor.quality.runner import validate_group

    a, b = requests(), requests()
    b["delivery_id"] = "r2"
    b.loc[:9, "referrer_type"] = "99"
    frame = pd.concat([a, b], ignore_index=True)
    outcomes, _ = validate_group(
        "ijw_requests",
        frame,
        [
            DeliveryInfo("r1", "p1", "ijw_messages", "GM0014", "2021-03"),
            DeliveryInfo("r2", "p2", "ijw_messages", "GM0014", "2021-03"),
        ],
        "2021-03",
    )
    ref = {
        o.delivery_id: o
        for o in outcomes
        if o.column == "referrer_type" and o.expectation_type.endswith("in_set")
    }
    assert ref["r1"].success and not ref["r2"].success and ref["r2"].unexpected_count == 10


def test_covered_months():
    from datetime import date

    assert S.covered_months("2026-2027", date(2026, 11, 4)) == 3  # interim export: Aug-Oct
    assert S.covered_months("2025-2026", date(2026, 8, 23)) == 12
    assert S.covered_months("2025-2026", date(2026, 7, 31)) == 12
    assert S.covered_months("2024-03", date(2024, 4, 5)) == 1
    assert S.covered_months("2024", date(2025, 2, 1)) == 12
    assert S.covered_months("", date(2025, 2, 1)) == 1


def test_row_count_is_compared_per_covered_month():
    from datetime import date

    from pilotmonitor.quality.runner import validate_row_counts

    history = [(1200, 12), (1250, 12), (1180, 12)]  # ~100 rows a month
    interim = DeliveryInfo(
        "i",
        "schools/99GA00/99GA00_verzuim_2026-2027_20261104.csv",
        "school_absence",
        "99GA00",
        "2026-2027",
        date(2026, 11, 4),
    )
    half = DeliveryInfo(
        "h",
        "schools/99GA00/99GA00_verzuim_2025-2026_20260823.csv",
        "school_absence",
        "99GA00",
        "2025-2026",
        date(2026, 8, 23),
    )
    full = DeliveryInfo(
        "f",
        "schools/99GA00/99GA00_verzuim_2024-2025_20250817.csv",
        "school_absence",
        "99GA00",
        "2024-2025",
        date(2025, 8, 17),
    )
    out = {
        o.delivery_id: o
        for o in validate_row_counts(
            "school_absence", [(interim, 310, history), (half, 600, history), (full, 1210, history)]
        )
    }
    assert out["i"].success and "3 month(s)" in out["i"].examples[0]
    assert (
        not out["h"].success
        and "expected 601-2400" in out["h"].examples[0]
        and out["h"].severity == "warning"
    )
    assert out["f"].success


def test_deliveries_of_different_periods_in_one_call():
    from pilotmonitor.quality.runner import validate_group

    a, b = requests(), requests()
    b["delivery_id"] = "r2"
    b["message_date"] = pd.Timestamp("2021-04-12")  # right for April, wrong for March
    b["requested_start"] = pd.Timestamp("2021-05-01")
    frame = pd.concat([a, b], ignore_index=True)
    march = DeliveryInfo("r1", "p1", "ijw_messages", "GM0014", "2021-03")
    outcomes, _ = validate_group(
        "ijw_requests",
        frame,
        [march, DeliveryInfo("r2", "p2", "ijw_messages", "GM0014", "2021-04")],
    )
    assert failed(outcomes) == []
    outcomes, _ = validate_group(
        "ijw_requests",
        frame,
        [march, DeliveryInfo("r2", "p2", "ijw_messages", "GM0014", "2020-12")],
    )
    bad = failed(outcomes)
    assert [(o.delivery_id, o.expectation_type, o.column) for o in bad] == [
        ("r2", "expect_column_values_to_be_between", "message_date")
    ]
    assert bad[0].unexpected_count == len(b) and bad[0].examples == ["2021-04-12"]


def test_validation_does_not_fingerprint_the_whole_frame(monkeypatch):
    """GX's batch fingerprint hashed every row twice per validation (a third of the time
    at a million rows); the runner switches it off, so a national chunk is not hashed."""
    import great_expectations.execution_engine.pandas_execution_engine as pandas_engine

    def refuse(frame):
        raise AssertionError(f"GX hashed a frame of {len(frame)} rows")

    monkeypatch.setattr(pandas_engine, "hash_pandas_dataframe", refuse)
    frame = pd.concat([absence(), absence().head(3)], ignore_index=True)
    bad = failed(validate_frame("school_absence", frame, "2020-2021"))
    assert [o.expectation_type for o in bad] == ["expect_compound_columns_to_be_unique"]


def test_previous_deliveries_are_the_senders_earlier_ones_most_recent_first():
    """The row-count history per delivery (sorted once per sender, then a binary search)
    equals filtering and sorting the sender's whole history for each delivery."""
    from pilotmonitor.quality.store import _previous_counts

    rng = np.random.default_rng(5)
    periods = [None, "", "2021-2022", "2022-2023", "2023-01", "2023-02", "2023-03"]
    n = 300
    history = pd.DataFrame(
        {
            "delivery_id": [f"d{i}" for i in range(n)],
            "sender": rng.choice(["a", "b", "c"], n),
            "period": [periods[i] for i in rng.integers(0, len(periods), n)],
            "delivered_on": [
                None
                if rng.random() < 0.05
                else pd.Timestamp("2023-01-01") + pd.Timedelta(days=int(d))
                for d in rng.integers(0, 90, n)
            ],
            "n": rng.integers(0, 500, n),
        }
    )
    pending = [
        DeliveryInfo(r.delivery_id, "p", "s", r.sender, r.period, r.delivered_on)
        for r in history.itertuples()
        if r.Index % 3 == 0
    ]

    def reference(d):
        others = [
            r
            for r in history.itertuples()
            if r.sender == d.sender and r.delivery_id != d.delivery_id
        ]
        if d.period:
            earlier = sorted(
                (r for r in others if isinstance(r.period, str) and r.period < d.period),
                key=lambda r: r.period,
                reverse=True,
            )
        else:
            cutoff = pd.Timestamp(d.delivered_on)
            earlier = sorted(
                (r for r in others if pd.Timestamp(r.delivered_on) < cutoff),
                key=lambda r: pd.Timestamp(r.delivered_on),
                reverse=True,
            )
        return [(int(r.n), S.covered_months(r.period, r.delivered_on)) for r in earlier]

    found = _previous_counts(history, pending)
    assert any(found[d.delivery_id] for d in pending)
    assert all(found[d.delivery_id] == reference(d) for d in pending)
