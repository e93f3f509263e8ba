"""The generator's leerplicht/RMC register exports: read back with the pipeline's reader,
they account for every row, quarantine exactly the planted bad rows, and register the
thuiszitter spells the truth says they register."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from pilotmonitor.ingest.deliveries import describe
from pilotmonitor.ingest.pseudonymise import Pseudonymiser, PseudonymKey
from pilotmonitor.ingest.readers.leerplicht import read_leerplicht_register
from pilotmonitor.synth.leerplicht import TRUTH_FILE, _absence_notifications, early_school_leavers

PSEUDONYMISER = Pseudonymiser(PseudonymKey("test", bytes(range(7, 39))))


def _read_all(landing: Path, deliveries: pd.DataFrame):
    files = deliveries[deliveries.source == "leerplicht_register"]
    results = {}
    for path in files.path:
        delivery = describe(landing, landing / path)
        assert delivery.source == "leerplicht_register"
        results[path] = read_leerplicht_register(landing / path, delivery, PSEUDONYMISER)
    return files, results


def test_every_register_row_is_loaded_or_quarantined_as_planted(
    landing: Path, deliveries: pd.DataFrame, planted_register: pd.DataFrame
):
    files, results = _read_all(landing, deliveries)
    assert len(files) > 0
    mine = planted_register
    assert set(mine.path) <= set(files.path)
    assert set(mine.kind) == {
        "invalid_bsn",
        "reserved_bsn",
        "impossible_date",
        "unknown_kind",
        "duplicate_row",
    }
    for row in files.itertuples(index=False):
        result = results[row.path]
        result.check_accounting()
        assert result.rows_read == int(row.rows)
        assert len(result.quarantine) == int(
            mine.loc[mine.path == row.path, "count"].astype(int).sum()
        ), row.path


def test_registered_thuiszitters_are_the_spells_the_truth_registers(
    landing: Path, deliveries: pd.DataFrame, truth_dir: Path
):
    _, results = _read_all(landing, deliveries)
    tables = [r.tables["leerplicht_register"] for r in results.values()]
    rows = pd.concat([t for t in tables if len(t)], ignore_index=True)  # header-only years
    truth = pd.read_csv(truth_dir / TRUTH_FILE, parse_dates=["start_date", "end_date"])
    thuiszitters = rows[rows.registration == "thuiszitter"]
    # a spell reported after the as-of date is not in the register yet
    assert 0 < len(thuiszitters) <= truth.registered.sum()
    # the register misses some spells: the sources disagree
    assert 0.6 < truth.registered.mean() < 1.0
    assert set(zip(thuiszitters.school_id, thuiszitters.start_date)) <= set(
        zip(truth.school_id[truth.registered], truth.start_date[truth.registered])
    )


def test_relative_absence_is_notified_when_a_month_reaches_16_hours():
    absence = pd.DataFrame(
        {
            "pupil_id": [1, 1, 1, 1, 2, 2],
            "date": pd.to_datetime(
                ["2024-10-01", "2024-10-02", "2024-10-03", "2024-10-04", "2024-10-01", "2024-11-01"]
            ),
            "kind": "ongeoorloofd",
            "hours": [5.5, 5.5, 5.5, 5.5, 10.0, 10.0],
            "reason": "Spijbelen",
        }
    )
    notes = _absence_notifications(absence, np.random.default_rng(1))
    relative = notes[notes.kind == "Relatief verzuim"]
    # 16.5 h on the third day; pupil 2 never 16 in a month
    assert relative[["pupil_id", "date"]].values.tolist() == [[1, pd.Timestamp("2024-10-03")]]


def test_early_school_leavers_appear_once_the_population_marks_them():
    pupils = pd.DataFrame(
        {"pupil_id": [0, 1, 2], "enrol_end": pd.to_datetime(["2024-03-01", None, "2024-05-01"])}
    )
    assert early_school_leavers(pupils).empty
    marked = early_school_leavers(pupils.assign(early_exit=["vsv", "vsv", "dropout"]))
    assert marked.pupil_id.tolist() == [0] and marked.leave_date.tolist() == [
        pd.Timestamp("2024-03-01")
    ]
