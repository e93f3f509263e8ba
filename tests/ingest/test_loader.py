"""The loader: idempotent, supersedes corrected re-deliveries, registers duplicates and
failures, and keeps rows read = loaded + quarantined."""

import os
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from pilotmonitor.ingest import loader, read_ahead
from pilotmonitor.ingest.contracts import (
    DeliveryError,
    ReadResult,
    empty_quarantine,
    quarantine_rows,
)
from pilotmonitor.ingest.loader import load_source, register_unusable


def fake_pilot_costs_reader(path: Path, delivery) -> ReadResult:
    """Reads 'year;total' lines; a line 'bad' is quarantined; 'BROKEN' fails the file."""
    text = path.read_text(encoding="utf-8")
    if text.startswith("BROKEN"):
        raise DeliveryError(path, "cannot be read")
    good, bad = [], []
    for number, line in enumerate(text.splitlines(), start=1):
        if line == "bad":
            bad.append(str(number))
        else:
            year, total = line.split(";")
            good.append(
                {
                    "row_locator": str(number),
                    "pilot_id": delivery.sender,
                    "year": int(year),
                    "fte": 1.0,
                    "cost_per_fte_eur": float(total),
                    "other_costs_eur": 0.0,
                    "total_eur": float(total),
                }
            )
    frame = pd.DataFrame(
        good,
        columns=[
            "row_locator",
            "pilot_id",
            "year",
            "fte",
            "cost_per_fte_eur",
            "other_costs_eur",
            "total_eur",
        ],
    )
    quarantine = (
        quarantine_rows(bad, "pilot_costs", "invalid_number") if bad else empty_quarantine()
    )
    return ReadResult({"pilot_costs": frame}, quarantine, rows_read=len(good) + len(bad))


@pytest.fixture()
def landing(tmp_path):
    root = tmp_path / "landing" / "pilots" / "p1"
    root.mkdir(parents=True)
    return tmp_path / "landing"


def write(landing: Path, name: str, text: str) -> Path:
    path = landing / "pilots" / "p1" / name
    path.write_text(text, encoding="utf-8")
    return path


def load(conn, landing):
    return load_source(conn, landing, "pilot_costs", ["pilot_costs"], fake_pilot_costs_reader)


def test_loading_twice_changes_nothing(landing):
    write(landing, "p1_kosten_20250105.csv", "2024;100\nbad\n2025;200")
    conn = duckdb.connect()
    first = load(conn, landing)
    assert (
        first.count("loaded"),
        first.total("rows_read"),
        first.total("rows_loaded"),
        first.total("rows_quarantined"),
    ) == (1, 3, 2, 1)
    second = load(conn, landing)
    assert second.new == [] and second.unchanged == 1
    assert conn.execute("select count(*) from raw.pilot_costs").fetchone()[0] == 2
    assert conn.execute("select count(*) from raw.quarantine").fetchone()[0] == 1
    assert (
        conn.execute("select reason from raw.quarantine")
        .fetchone()[0]
        .startswith("a number that cannot be read")
    )


def test_corrected_redelivery_supersedes_visibly(landing):
    write(landing, "p1_kosten_20250105.csv", "2024;100")
    conn = duckdb.connect()
    load(conn, landing)
    write(landing, "p1_kosten_20250301.csv", "2024;150")
    load(conn, landing)
    rows = conn.execute(
        "select path, is_current, superseded_by from raw.deliveries order by path"
    ).fetchall()
    assert rows == [
        ("pilots/p1/p1_kosten_20250105.csv", False, "pilots/p1/p1_kosten_20250301.csv"),
        ("pilots/p1/p1_kosten_20250301.csv", True, None),
    ]
    current = conn.execute(
        "select c.total_eur from raw.pilot_costs c join raw.deliveries d using (delivery_id) "
        "where d.is_current"
    ).fetchall()
    assert current == [(150.0,)]
    assert conn.execute("select count(*) from raw.pilot_costs").fetchone()[0] == 2  # both traceable


def test_same_file_delivered_twice_is_registered_as_duplicate(landing):
    write(landing, "p1_kosten_20250105.csv", "2024;100")
    write(landing, "p1_kosten_20250105 (1).csv", "2024;100")
    conn = duckdb.connect()
    summary = load(conn, landing)
    assert sorted(r["status"] for r in summary.new) == ["duplicate", "loaded"]
    assert conn.execute("select count(*) from raw.pilot_costs").fetchone()[0] == 1
    assert (
        conn.execute(
            "select duplicate_of from raw.deliveries where status = 'duplicate'"
        ).fetchone()[0]
        == "pilots/p1/p1_kosten_20250105.csv"
    )


def test_one_unreadable_file_fails_alone(landing):
    write(landing, "p1_kosten_20250105.csv", "BROKEN")
    write(landing, "p1_kosten_20240105.csv", "2023;90")
    conn = duckdb.connect()
    summary = load(conn, landing)
    assert summary.count("failed") == 1 and summary.count("loaded") == 1
    error = conn.execute("select error from raw.deliveries where status = 'failed'").fetchone()[0]
    assert error == "p1_kosten_20250105.csv: cannot be read"
    # the failed delivery is not current; the older good one is
    assert conn.execute("select path from raw.deliveries where is_current").fetchall() == [
        ("pilots/p1/p1_kosten_20240105.csv",)
    ]


def test_file_replaced_in_place_is_reloaded_not_doubled(landing):
    path = write(landing, "p1_kosten_20250105.csv", "2024;100")
    conn = duckdb.connect()
    load(conn, landing)
    path.write_text("2024;120\n2025;130", encoding="utf-8")
    load(conn, landing)
    assert sorted(
        r[0] for r in conn.execute("select total_eur from raw.pilot_costs").fetchall()
    ) == [120.0, 130.0]
    assert conn.execute("select count(*) from raw.deliveries").fetchone()[0] == 1


def test_unrecognised_file_names_are_registered_as_failed(landing):
    (landing / "schools").mkdir()
    (landing / "schools" / "leerlingen export.csv").write_text("x")
    conn = duckdb.connect()
    problems = register_unusable(conn, landing)
    assert len(problems) == 1 and "naming convention" in problems[0]
    assert conn.execute("select status, source from raw.deliveries").fetchall() == [
        ("failed", "unrecognised")
    ]
    assert (
        register_unusable(conn, landing)
        and conn.execute("select count(*) from raw.deliveries").fetchone()[0] == 1
    )


def test_links_and_special_files_in_the_landing_area_are_refused_not_followed(landing, tmp_path):
    """A symbolic link (to a file or folder outside the landing area, or dangling) and a
    FIFO are registered as failed with the reason and never opened; the file a link points
    at is not loaded; the regular file beside them loads."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "p1_kosten_20240105.csv").write_text("2024;999", encoding="utf-8")
    write(landing, "p1_kosten_20250105.csv", "2025;100")
    (landing / "pilots" / "p1" / "p1_kosten_20240105.csv").symlink_to(
        outside / "p1_kosten_20240105.csv"
    )
    (landing / "pilots" / "p1" / "p1_kosten_20230105.csv").symlink_to(tmp_path / "missing.csv")
    (landing / "pilots" / "p2").symlink_to(outside, target_is_directory=True)
    # reading it would block forever
    os.mkfifo(landing / "pilots" / "p1" / "p1_kosten_20220105.csv")
    conn = duckdb.connect()
    problems = register_unusable(conn, landing)
    assert (
        len(problems) == 4
        and sum("symbolic link" in p for p in problems) == 3
        and sum("not a regular file" in p for p in problems) == 1
    )
    register = conn.execute(
        "select path, status, source, sha256, error from raw.deliveries order by path"
    ).fetchall()
    assert [(r[0], r[1], r[2], r[3]) for r in register] == [
        ("pilots/p1/p1_kosten_20220105.csv", "failed", "refused", None),
        ("pilots/p1/p1_kosten_20230105.csv", "failed", "refused", None),
        ("pilots/p1/p1_kosten_20240105.csv", "failed", "refused", None),
        ("pilots/p2", "failed", "refused", None),
    ]
    assert all(r[4].startswith(r[0] + ": ") for r in register)
    summary = load(conn, landing)
    assert summary.count("loaded") == 1
    assert [r[0] for r in conn.execute("select total_eur from raw.pilot_costs").fetchall()] == [
        100.0
    ]
    register_unusable(conn, landing)  # a second run registers nothing twice
    assert conn.execute("select count(*) from raw.deliveries").fetchone()[0] == 5
    link = landing / "pilots" / "p1" / "p1_kosten_20240105.csv"
    link.unlink()
    write(landing, link.name, "2024;150")  # the sender delivers the file itself
    register_unusable(conn, landing)
    assert load(conn, landing).count("loaded") == 1
    assert conn.execute(
        "select status, source from raw.deliveries where path = ?",
        ["pilots/p1/p1_kosten_20240105.csv"],
    ).fetchall() == [("loaded", "pilot_costs")]


def fake_chunked_pilot_costs_reader(path: Path, delivery):
    """As fake_pilot_costs_reader, but yields one part per two lines (row numbers stay
    file-global); a line 'BROKEN' fails the file part-way, after parts were loaded."""
    lines = path.read_text(encoding="utf-8").splitlines()
    for start in range(0, len(lines), 2):
        good, bad = [], []
        for number, line in enumerate(lines[start : start + 2], start=start + 1):
            if line == "BROKEN":
                raise DeliveryError(path, f"line {number} cannot be read")
            if line == "bad":
                bad.append(str(number))
            else:
                year, total = line.split(";")
                good.append(
                    {
                        "row_locator": str(number),
                        "pilot_id": delivery.sender,
                        "year": int(year),
                        "fte": 1.0,
                        "cost_per_fte_eur": float(total),
                        "other_costs_eur": 0.0,
                        "total_eur": float(total),
                    }
                )
        frame = pd.DataFrame(
            good,
            columns=[
                "row_locator",
                "pilot_id",
                "year",
                "fte",
                "cost_per_fte_eur",
                "other_costs_eur",
                "total_eur",
            ],
        )
        quarantine = (
            quarantine_rows(bad, "pilot_costs", "invalid_number") if bad else empty_quarantine()
        )
        yield ReadResult({"pilot_costs": frame}, quarantine, rows_read=len(good) + len(bad))


def load_chunked(conn, landing):
    return load_source(
        conn, landing, "pilot_costs", ["pilot_costs"], fake_chunked_pilot_costs_reader
    )


def test_reader_in_parts_loads_every_part_with_summed_counts(landing):
    write(landing, "p1_kosten_20250105.csv", "2021;100\nbad\n2022;200\n2023;300\nbad")
    conn = duckdb.connect()
    summary = load_chunked(conn, landing)
    assert (
        summary.count("loaded"),
        summary.total("rows_read"),
        summary.total("rows_loaded"),
        summary.total("rows_quarantined"),
    ) == (1, 5, 3, 2)
    assert conn.execute(
        "select rows_read, rows_loaded, rows_quarantined from raw.deliveries"
    ).fetchall() == [(5, 3, 2)]
    rows = conn.execute(
        "select row_locator, year, total_eur from raw.pilot_costs order by year"
    ).fetchall()
    assert rows == [("1", 2021, 100.0), ("3", 2022, 200.0), ("4", 2023, 300.0)]
    assert sorted(
        r[0] for r in conn.execute("select row_locator from raw.quarantine").fetchall()
    ) == ["2", "5"]
    # loading again changes nothing; a replaced file is reloaded, not doubled
    assert load_chunked(conn, landing).unchanged == 1
    write(landing, "p1_kosten_20250105.csv", "2021;110\n2022;210\n2023;310")
    load_chunked(conn, landing)
    assert conn.execute("select count(*), sum(total_eur) from raw.pilot_costs").fetchone() == (
        3,
        630.0,
    )
    assert conn.execute("select count(*) from raw.quarantine").fetchone()[0] == 0


@pytest.mark.parametrize("batch_rows", [250_000, 1])
def test_reader_in_parts_failing_part_way_loads_nothing_of_that_file(
    landing, monkeypatch, batch_rows
):
    """Also when its first parts were already written (a batch filled in the middle of the file)."""
    monkeypatch.setattr(loader, "BATCH_ROWS", batch_rows)
    write(landing, "p1_kosten_20250105.csv", "2021;100\nbad\n2022;200\nBROKEN")
    write(landing, "p1_kosten_20240105.csv", "2020;90\nbad\n2019;80")
    conn = duckdb.connect()
    summary = load_chunked(conn, landing)
    assert summary.count("failed") == 1 and summary.count("loaded") == 1
    failed = conn.execute(
        "select error, rows_read, rows_loaded, rows_quarantined from raw.deliveries where status "
        "= 'failed'"
    ).fetchone()
    assert failed == ("p1_kosten_20250105.csv: line 4 cannot be read", 0, 0, 0)
    assert sorted(r[0] for r in conn.execute("select year from raw.pilot_costs").fetchall()) == [
        2019,
        2020,
    ]
    assert conn.execute("select path from raw.quarantine").fetchall() == [
        ("pilots/p1/p1_kosten_20240105.csv",)
    ]


@pytest.mark.parametrize("batch_rows", [250_000, 1])
def test_batches_give_the_same_warehouse_as_one_delivery_at_a_time(
    landing, monkeypatch, batch_rows
):
    monkeypatch.setattr(loader, "BATCH_ROWS", batch_rows)
    for year in range(2015, 2025):
        write(landing, f"p1_kosten_{year}0105.csv", f"{year};{year - 2000}\nbad")
    conn = duckdb.connect()
    summary = load_chunked(conn, landing)
    assert summary.count("loaded") == 10
    assert conn.execute("select count(*), sum(total_eur) from raw.pilot_costs").fetchone() == (
        10,
        float(sum(range(15, 25))),
    )
    assert conn.execute("select count(*) from raw.quarantine").fetchone()[0] == 10
    assert conn.execute("select count(*) from raw.deliveries where is_current").fetchone()[0] == 1


def test_unexpected_error_rolls_back_the_open_batch_and_the_next_run_loads_it(landing):
    write(landing, "p1_kosten_20230105.csv", "2023;100")
    write(landing, "p1_kosten_20240105.csv", "2024;200")
    conn = duckdb.connect()

    def crashing(path, delivery):
        if "2024" in path.name:
            raise RuntimeError("disk full")
        return fake_pilot_costs_reader(path, delivery)

    with pytest.raises(RuntimeError, match="disk full"):
        load_source(conn, landing, "pilot_costs", ["pilot_costs"], crashing)
    assert conn.execute("select count(*) from raw.deliveries").fetchone()[0] == 0
    assert conn.execute("select count(*) from raw.pilot_costs").fetchone()[0] == 0
    summary = load(conn, landing)
    assert summary.count("loaded") == 2
    assert conn.execute("select count(*) from raw.pilot_costs").fetchone()[0] == 2


def crashing_reader(path: Path, delivery) -> ReadResult:
    """A reader with a bug (not a bad delivery): must stop the source, not fail the file."""
    if "2024" in path.name:
        raise RuntimeError("disk full")
    return fake_pilot_costs_reader(path, delivery)


def warehouse_state(conn) -> dict:
    return {
        "rows": conn.execute(
            "select delivery_id, row_locator, year, total_eur from raw.pilot_costs order by all"
        ).fetchall(),
        "quarantine": conn.execute(
            "select delivery_id, path, row_locator, reason from raw.quarantine order by all"
        ).fetchall(),
        "register": conn.execute(
            "select path, delivery_id, status, error, duplicate_of, rows_read, rows_loaded, "
            "rows_quarantined, is_current from raw.deliveries order by path"
        ).fetchall(),
    }


def test_reading_in_worker_processes_gives_the_same_warehouse(landing, monkeypatch):
    """Read-ahead in two processes: same rows, quarantine and register as in-process, also for
    a file that fails (its error crosses the process boundary), a duplicate, and a copy of
    the failing file (read in-process when its turn comes, and failing the same way).
    Batches of three files per task, so results cross several task boundaries in order."""
    monkeypatch.setattr(loader, "MIN_FILES_FOR_WORKERS", 1)
    monkeypatch.setattr(loader, "MIN_BYTES_FOR_WORKERS", 0)
    monkeypatch.setattr(read_ahead, "BATCH_FILES", 3)
    for year in range(2015, 2023):
        write(landing, f"p1_kosten_{year}0105.csv", f"{year};{year - 2000}\nbad")
    write(landing, "p1_kosten_20230105.csv", "BROKEN")
    write(landing, "p1_kosten_20230105 (1).csv", "BROKEN")
    write(landing, "p1_kosten_20240105.csv", "2015;15\nbad")  # same content as 2015: a duplicate
    states = []
    for workers in (1, 2):
        conn = duckdb.connect()
        summary = load_source(
            conn, landing, "pilot_costs", ["pilot_costs"], fake_pilot_costs_reader, workers=workers
        )
        assert (summary.count("loaded"), summary.count("failed"), summary.count("duplicate")) == (
            8,
            2,
            1,
        )
        states.append(warehouse_state(conn))
    assert states[0] == states[1]
    assert len(states[1]["rows"]) == 8 and len(states[1]["quarantine"]) == 8


def test_unexpected_error_in_a_worker_stops_the_source_and_rolls_back(landing, monkeypatch):
    monkeypatch.setattr(loader, "MIN_FILES_FOR_WORKERS", 1)
    monkeypatch.setattr(loader, "MIN_BYTES_FOR_WORKERS", 0)
    write(landing, "p1_kosten_20230105.csv", "2023;100")
    write(landing, "p1_kosten_20240105.csv", "2024;200")
    conn = duckdb.connect()
    with pytest.raises(RuntimeError, match="disk full"):
        load_source(conn, landing, "pilot_costs", ["pilot_costs"], crashing_reader, workers=2)
    assert conn.execute("select count(*) from raw.deliveries").fetchone()[0] == 0
    assert conn.execute("select count(*) from raw.pilot_costs").fetchone()[0] == 0
    assert load(conn, landing).count("loaded") == 2


def test_a_source_reads_only_its_own_folder_and_finds_every_file_of_it_there(tmp_path):
    """Each source walks the folder its names start in (a national landing area has about
    180,000 files): the same files as a walk of the whole landing area, the folder matched
    without regard to case like the names, and a top folder that is a symbolic link not
    followed."""
    from pilotmonitor.ingest.deliveries import PATTERNS, landing_files, recognise

    landing = tmp_path / "landing"
    names = [
        "schools/99AA00/99AA00_verzuim_2024-2025_20250810.csv",
        "schools/99AA00/99AA00_inschrijvingen_2024-2025_20250810.csv",
        "IJW/GM0014/GM0014_ijw_2024-05_20240610.zip",
        "pilots/p1/p1_kosten_20240105.csv",
        "public/duo/duo_vsv_gemeenten_2023_20250201.csv",
        "surveys/vragenlijst_ouders_2024-2025_20250601.csv",
        "elsewhere/99AA00_verzuim_2024-2025_20250810.csv",  # no source's folder
    ]
    for name in names:
        (landing / name).parent.mkdir(parents=True, exist_ok=True)
        (landing / name).write_text("x\n")
    outside = tmp_path / "outside"
    (outside / "GM0034").mkdir(parents=True)
    (outside / "GM0034" / "GM0034_leerplicht_2024-2025_20250801.csv").write_text("x\n")
    (landing / "leerplicht").symlink_to(outside, target_is_directory=True)

    def recognised(path, source):
        try:
            return recognise(path.relative_to(landing).as_posix())[0] == source
        except Exception:
            return False

    for source, _ in PATTERNS:
        whole_walk = [p for p in landing_files(landing) if recognised(p, source)]
        assert loader.files_of_source(landing, source) == whole_walk, source
    assert [p.name for p in loader.files_of_source(landing, "ijw_messages")] == [
        "GM0014_ijw_2024-05_20240610.zip"
    ]
    assert loader.files_of_source(landing, "leerplicht_register") == []


class _BatchFails:
    """A school reader whose batch reading breaks unexpectedly (raises, or answers for fewer
    files than asked): the loader must fall back to reading the batch's files one by one."""

    def __init__(self, reader, short: bool = False):
        self.reader = reader
        self.short = short

    def __call__(self, path, delivery):
        return self.reader(path, delivery)

    def read_many(self, items):
        if self.short:
            return self.reader.read_many(items)[:-1]
        raise RuntimeError("a bug in batch reading")


def test_school_exports_read_in_batches_give_the_warehouse_of_reading_one_by_one(tmp_path):
    """Three school years of absence, one refused (UTF-16) and one with a quarantined row
    (an invalid BSN), read one by one, in batches (sources.SourceReader.read_many, in this
    process) and by batch readers that break (read again one by one): one warehouse."""
    import functools

    from pilotmonitor.ingest.pseudonymise import Pseudonymiser
    from pilotmonitor.ingest.sources import ReadContext, SourceReader, read_delivery
    from tests.ingest.school_files import ABSENCE, export_bytes, key, put

    landing = tmp_path / "landing"
    for year in (2016, 2017):
        rows = ABSENCE.assign(date=ABSENCE["date"] + pd.DateOffset(years=year - 2016))
        data = export_bytes("school_absence", rows, school_year=year)
        put(landing, "school_absence", f"{year}-{year + 1}", f"{year + 1}0810", data)
    put(landing, "school_absence", "2018-2019", "20190810", "bsn;datum\n".encode("utf-16-le"))
    ctx = ReadContext(Pseudonymiser(key("k1", 1)), None, None)
    readers = [
        functools.partial(read_delivery, "school_absence", ctx),
        SourceReader("school_absence", ctx),
        _BatchFails(SourceReader("school_absence", ctx)),
        _BatchFails(SourceReader("school_absence", ctx), short=True),
    ]
    states = []
    for reader in readers:
        conn = duckdb.connect()
        summary = load_source(conn, landing, "school_absence", ["school_absence"], reader)
        assert (summary.count("loaded"), summary.count("failed")) == (2, 1)
        states.append(
            {
                "rows": conn.execute("select * from raw.school_absence order by all").fetchall(),
                "quarantine": conn.execute(
                    "select delivery_id, path, row_locator, reason, reason_code "
                    "from raw.quarantine order by all"
                ).fetchall(),
                "register": conn.execute(
                    "select path, status, error, rows_read, rows_loaded, rows_quarantined, "
                    "is_current from raw.deliveries order by path"
                ).fetchall(),
            }
        )
    assert states[0]["quarantine"], "the invalid BSN is quarantined"
    assert all(state == states[0] for state in states[1:])


def test_reading_in_order_reads_a_large_file_only_when_the_loader_asks():
    """Small files are read a batch at a time; a large one streams its parts to the loader
    when its turn comes (memory holds a part, not the file)."""
    from pilotmonitor.ingest.deliveries import Delivery

    calls = []

    def reader(path, delivery):
        calls.append(path.name)
        return ReadResult({}, empty_quarantine(), 0)

    def item(name: str, size: int):
        return Path(name), Delivery(name, "pilot_costs", "p1", "2024", None, "0" * 64, size)

    items = [item("a", 10), item("b", 10), item("large", read_ahead.BATCH_BYTES), item("c", 10)]
    handles = read_ahead.read_in_order(reader, items)
    next(handles)()
    assert calls == ["a", "b"]  # the first batch of small files, read at once
    next(handles)()
    large = next(handles)
    assert calls == ["a", "b"]
    large()
    assert calls == ["a", "b", "large"]
    next(handles)()
    assert calls == ["a", "b", "large", "c"]
