"""Adversarial inputs against the parsing limits (pilotmonitor/ingest/limits.py).

Every input is generated here, small on disk: a ZIP member of highly compressible XML
expanding far beyond a limit, deep nesting, a huge text node, a worksheet bomb, a CSV
of one endless line. Each must be refused with a reason naming the limit (never a
delivered value), in bounded memory, while the other files of the same run still load.
Limits are lowered through their environment variables where a real-size input would
be too big for a test.
"""

from __future__ import annotations

import functools
import resource
import zipfile
from pathlib import Path

import duckdb
import openpyxl
import pytest

from pilotmonitor.ingest.contracts import DeliveryError, ReadResult, as_frame
from pilotmonitor.ingest.leak_scan import _names_from_table, _names_from_zip
from pilotmonitor.ingest.limits import DEFAULT_LIMITS, current_limits
from pilotmonitor.ingest.loader import load_source
from pilotmonitor.ingest.readers import tabular
from pilotmonitor.ingest.readers.ijw import iter_ijw_archive
from pilotmonitor.ingest.readers.public_data import read_cbs_youth_care
from pilotmonitor.ingest.readers.school_exports import read_school_absence
from pilotmonitor.ingest.sources import SOURCES_BY_NAME, ReadContext, read_delivery
from pilotmonitor.synth.dialects import Dialect
from pilotmonitor.synth.ijw_messages import render_jw315, render_jw323
from tests.ijw_rows import declaration_line as line
from tests.ingest.test_reader_ijw import (
    ARCHIVE_NAME,
    PSEUDONYMISER,
    SURNAME,
    all_messages,
    delivery_for,
    one,
    read,
    trajectory,
    valid_bsn,
    write_archive,
)
from tests.ingest.test_reader_school_exports import ABSENCE, delivery, export_bytes

JW323_NS = "http://www.istandaarden.nl/ijw/3_2/jw323/schema"
MiB = 1 << 20
# A coarse guard, not a measurement: reading the unbounded 64 MiB bomb took 2.2 GB.
MEMORY_RISE_LIMIT = 300 * MiB


def limit(monkeypatch: pytest.MonkeyPatch, **values: int) -> None:
    for name, value in values.items():
        monkeypatch.setenv(f"PILOTMONITOR_LIMIT_{name.upper()}", str(value))


def peak_rise(action):
    """The action's result and how far it raised the process's peak resident memory."""
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result = action()
    return result, (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024


def write_streamed(
    archive: zipfile.ZipFile, name: str, head: bytes, unit: bytes, total: int, tail: bytes
) -> None:
    """A member of ``head + unit * n + tail`` (about ``total`` bytes), deflated as it is
    written, so the test never holds the expanded member."""
    block = unit * (MiB // len(unit))
    info = zipfile.ZipInfo(name)
    info.compress_type = zipfile.ZIP_DEFLATED
    with archive.open(info, "w", force_zip64=True) as member:
        member.write(head)
        for _ in range(total // len(block)):
            member.write(block)
        member.write(tail)


def empty_elements_bomb(
    directory: Path,
    size: int = 64 * MiB,
    name: str = ARCHIVE_NAME,
    extra: list[tuple[str, bytes]] = (),
) -> Path:
    """The issue's bomb: a well-formed JW323 root holding ``size`` bytes of empty
    elements (64 MiB deflate to about 66 KB), plus ``extra`` regular members."""
    path = directory / name
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for member, payload in extra:
            archive.writestr(member, payload)
        write_streamed(
            archive,
            "JW323_bomb.xml",
            f'<?xml version="1.0"?><Bericht xmlns="{JW323_NS}">'.encode(),
            b"<a/>",
            size,
            b"</Bericht>",
        )
    return path


def quarantined(result: ReadResult) -> dict[str, tuple[str, str]]:
    return {
        row["row_locator"]: (row["reason_code"], row["reason"])
        for row in result.quarantine.to_dict("records")
    }


def assert_accounted(result: ReadResult) -> None:
    assert result.rows_read == sum(len(t) for t in result.tables.values()) + len(result.quarantine)


# ---------------------------------------------------------------------------------------------
# iJw archives
# ---------------------------------------------------------------------------------------------


def test_the_issues_bomb_is_refused_by_its_ratio_before_inflating(
    tmp_path: Path, ijw_xsd_dir: Path
) -> None:
    path = empty_elements_bomb(tmp_path, extra=all_messages())
    assert path.stat().st_size < 200_000
    result, rise = peak_rise(lambda: read(path, ijw_xsd_dir))
    code, reason = quarantined(result)["JW323_bomb.xml"]
    assert code == "limit_exceeded"
    assert (
        "compression ratio" in reason
        and f"over the limit of {DEFAULT_LIMITS.compression_ratio} to 1" in reason
        and "67 MB" in reason
    )
    # the other members load
    assert len(result.tables["ijw_declaration_lines"]) == 1 and result.rows_read == 5 + 1
    assert_accounted(result)
    assert rise < MEMORY_RISE_LIMIT


@pytest.mark.parametrize("whole_tree", [True, False], ids=["whole-tree", "streamed"])
@pytest.mark.parametrize("validated", [True, False], ids=["xsd", "no-xsd"])
def test_element_count_stops_the_parse_early(
    tmp_path: Path,
    ijw_xsd_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    whole_tree: bool,
    validated: bool,
) -> None:
    """With the ratio check out of the way, counting elements stops the same bomb within
    one read, however it is parsed."""
    limit(
        monkeypatch,
        compression_ratio=10**6,
        elements=100_000,
        whole_tree_bytes=128 * MiB if whole_tree else MiB,
    )
    path = empty_elements_bomb(tmp_path, extra=all_messages())
    result, rise = peak_rise(lambda: read(path, ijw_xsd_dir if validated else None))
    code, reason = quarantined(result)["JW323_bomb.xml"]
    assert (
        code == "limit_exceeded" and "member JW323_bomb.xml: more than 100,000 elements" in reason
    )
    assert result.rows_read == 5 + 1 and len(result.tables["ijw_declaration_lines"]) == 1
    assert_accounted(result)
    assert rise < MEMORY_RISE_LIMIT


def test_member_over_the_size_limit_is_quarantined_by_its_declared_size(
    tmp_path: Path, ijw_xsd_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    limit(monkeypatch, member_bytes=MiB)
    path = empty_elements_bomb(tmp_path, size=2 * MiB, extra=all_messages())
    result = read(path, ijw_xsd_dir)
    code, reason = quarantined(result)["JW323_bomb.xml"]
    assert code == "limit_exceeded"
    assert (
        "member JW323_bomb.xml: uncompressed size 2.1 MB over the 1.0 MB limit for one member"
        in reason
    )
    assert result.rows_read == 6
    assert_accounted(result)


def test_archive_over_its_total_fails_as_a_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    limit(monkeypatch, archive_bytes=4000)
    path = write_archive(tmp_path, all_messages())
    with pytest.raises(
        DeliveryError, match=r"5 members expand to 8 KB in all, over the 4 KB limit for one archive"
    ):
        read(path, None)


def test_deep_nesting_is_refused_with_the_parsers_depth_limit(
    tmp_path: Path, ijw_xsd_dir: Path
) -> None:
    nested = (
        f'<Bericht xmlns="{JW323_NS}">'.encode() + b"<a>" * 5000 + b"</a>" * 5000 + b"</Bericht>"
    )
    result = read(
        write_archive(tmp_path, [("JW323_deep.xml", nested), *all_messages()]), ijw_xsd_dir
    )
    code, reason = quarantined(result)["JW323_deep.xml"]
    assert code == "limit_exceeded" and "nested deeper than 256" in reason
    assert result.rows_read == 6
    assert_accounted(result)


@pytest.mark.parametrize("whole_tree", [True, False], ids=["whole-tree", "streamed"])
def test_huge_text_node_is_refused_without_echoing_it(
    tmp_path: Path, ijw_xsd_dir: Path, monkeypatch: pytest.MonkeyPatch, whole_tree: bool
) -> None:
    limit(
        monkeypatch,
        text_bytes=64 * 1024,
        compression_ratio=10**6,
        whole_tree_bytes=64 * MiB if whole_tree else 1024,
    )
    name, request = one(render_jw315, [trajectory(1)])
    padded = request.replace(SURNAME.encode(), SURNAME.encode() + b"Q" * (3 * MiB), 1)
    result = read(write_archive(tmp_path, [(name, padded)]), ijw_xsd_dir)
    code, reason = quarantined(result)[name]
    assert code == "limit_exceeded" and "a text value or tag longer than the 66 KB limit" in reason
    assert SURNAME not in reason and "QQQQ" not in reason


def big_declaration(lines: int, number: str = "BIG1") -> tuple[str, bytes]:
    clients = [valid_bsn(40000000 + 13 * i) for i in range(lines // 4 + 1)]
    return one(render_jw323, [line(number, clients[i // 4], f"R{i:09d}") for i in range(lines)])


def test_large_member_is_validated_while_streaming_and_an_invalid_element_is_caught(
    tmp_path: Path, ijw_xsd_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A member above whole_tree_bytes (lowered: the real one is 8 MiB) is validated in a
    streaming pass before any of its rows is read: the valid one loads in parts, an
    invalid element deep inside the other quarantines all its lines, none loaded."""
    limit(monkeypatch, whole_tree_bytes=4096)
    valid_name, valid = big_declaration(400)
    invalid_name, invalid = big_declaration(400, "BIG2")
    at = invalid.index(b"<ijw:DebetCredit>D</ijw:DebetCredit>", len(invalid) * 3 // 4)
    invalid = (
        invalid[:at]
        + b"<ijw:DebetCredit>X</ijw:DebetCredit>"
        + invalid[at + len(b"<ijw:DebetCredit>D</ijw:DebetCredit>") :]
    )
    assert len(valid) > 4096 * 50
    path = write_archive(tmp_path, [(valid_name, valid), (invalid_name, invalid)])
    parts = list(
        iter_ijw_archive(path, delivery_for(path), PSEUDONYMISER, ijw_xsd_dir, None, part_rows=100)
    )
    assert len(parts) >= 4  # the valid member came in parts
    lines = [
        reference
        for part in parts
        for reference in as_frame(part.tables["ijw_declaration_lines"]).product_reference
    ]
    assert len(lines) == 400
    rejected = [row for part in parts for row in part.quarantine.to_dict("records")]
    assert len(rejected) == 400 and {row["row_locator"].split("#")[0] for row in rejected} == {
        invalid_name
    }
    assert {row["reason_code"] for row in rejected} == {"schema_invalid"}
    assert (
        "JW323" in rejected[0]["reason"]
        and "DebetCredit" in rejected[0]["reason"]
        and "'X'" not in rejected[0]["reason"]
    )
    assert not any("without XSD validation" in note for part in parts for note in part.notes)


def test_large_member_cut_off_after_a_complete_line_is_not_loaded(
    tmp_path: Path, ijw_xsd_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """lxml's validating iterparse accepts a document cut off after a complete element."""
    limit(monkeypatch, whole_tree_bytes=4096)
    name, payload = big_declaration(200)
    cut = payload[: payload.index(b"</Prestatie>", len(payload) // 2) + len(b"</Prestatie>")]
    result = read(write_archive(tmp_path, [(name, cut)]), ijw_xsd_dir)
    assert result.tables["ijw_declaration_lines"].empty
    assert {code for code, _ in quarantined(result).values()} == {"schema_invalid"}
    assert any("root element is closed" in reason for _, reason in quarantined(result).values())


# ---------------------------------------------------------------------------------------------
# Workbooks and CSV
# ---------------------------------------------------------------------------------------------


def workbook_with_sheet(
    tmp_path: Path, name: str, head: bytes, unit: bytes, size: int, tail: bytes
) -> Path:
    """A real workbook whose first sheet is replaced by a streamed (bomb) sheet."""
    source = tmp_path / f"source_{name}"
    source.write_bytes(export_bytes("school_absence", ABSENCE, Dialect("xlsx")))
    path = tmp_path / name
    with (
        zipfile.ZipFile(source) as original,
        zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive,
    ):
        for info in original.infolist():
            if info.filename == "xl/worksheets/sheet1.xml":
                write_streamed(archive, info.filename, head, unit, size, tail)
            else:
                archive.writestr(info.filename, original.read(info))
    return path


SHEET_HEAD = (
    b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
)
SHEET_TAIL = b"</sheetData></worksheet>"


@pytest.mark.parametrize(
    "limits", [{}, {"compression_ratio": 10**6, "elements": 100_000}], ids=["ratio", "elements"]
)
def test_xlsx_zip_bomb_is_refused_before_a_workbook_reader_opens_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, limits: dict
) -> None:
    limit(monkeypatch, **limits)
    path = workbook_with_sheet(tmp_path, "bomb.xlsx", SHEET_HEAD, b"<row/>", 64 * MiB, SHEET_TAIL)
    opened = []
    monkeypatch.setattr(tabular, "_calamine_sheet", lambda *args: opened.append(args))
    monkeypatch.setattr(tabular, "_openpyxl_sheet", lambda *args: opened.append(args))
    with pytest.raises(DeliveryError) as error:
        peak_rise(lambda: read_school_absence(path, delivery("school_absence"), PSEUDONYMISER))
    assert "member xl/worksheets/sheet1.xml" in error.value.problem
    assert (
        "compression ratio" if not limits else "more than 100,000 elements"
    ) in error.value.problem
    assert not opened


def test_xlsx_with_a_far_cell_reference_is_refused_before_calamine_allocates_the_grid(
    tmp_path: Path,
) -> None:
    """Two cells, A1 and XFD1048576, make python-calamine allocate 550 GB (the process aborts)."""
    path = tmp_path / "sparse.xlsx"
    book = openpyxl.Workbook()
    book.active["A1"] = "BSN"
    book.active.cell(row=1_048_576, column=16_384, value="x")
    book.save(path)
    assert path.stat().st_size < 20_000
    with pytest.raises(
        DeliveryError,
        match=(
            r"span 1,048,576 rows by 16,384 columns, 17,179,869,184 cells, over the 10,000,000 "
            r"limit"
        ),
    ):
        read_school_absence(path, delivery("school_absence"), PSEUDONYMISER)


def test_csv_of_one_endless_line_is_refused_before_the_line_is_read_whole(tmp_path: Path) -> None:
    path = tmp_path / "one_line.csv"
    with path.open("wb") as handle:
        handle.write(b"BSN;Datum;Uren;Soort verzuim\n")
        for _ in range(24):  # 24 MiB without a line break (the real case was 2 GB)
            handle.write(b"9" * MiB)
    with pytest.raises(DeliveryError) as error:
        _, rise = peak_rise(
            lambda: read_school_absence(path, delivery("school_absence"), PSEUDONYMISER)
        )
    assert "line 2 is longer than the 1,048,576-character limit for one line" in error.value.problem
    assert "999" not in error.value.problem


def test_public_file_read_whole_is_refused_over_its_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    limit(monkeypatch, whole_file_bytes=10_000)
    path = tmp_path / "85098NED_TypedDataSet_20261031.json"
    path.write_text('{"value": [' + ", ".join(['{"ID": 1}'] * 2000) + "]}")
    with pytest.raises(
        DeliveryError, match=r"file size 22 KB over the 10 KB limit for a file read whole"
    ):
        read_cbs_youth_care(path, None)


# ---------------------------------------------------------------------------------------------
# One bad file never stops the others
# ---------------------------------------------------------------------------------------------


def test_one_run_loads_the_good_deliveries_beside_every_kind_of_bad_one(
    tmp_path: Path, ijw_xsd_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    limit(monkeypatch, archive_bytes=40 * MiB)  # so one bomb is over the archive's total
    landing = tmp_path / "landing"
    folder = landing / "ijw" / "GM1895"
    folder.mkdir(parents=True)
    good = write_archive(folder, all_messages(), "GM1895_ijw_2024-03_20240410.zip")
    # member quarantined
    empty_elements_bomb(
        folder, 4 * MiB, "GM1895_ijw_2024-04_20240510.zip", extra=all_messages(valid_bsn(41000000))
    )
    # archive over its total: fails
    empty_elements_bomb(folder, 64 * MiB, "GM1895_ijw_2024-05_20240610.zip")
    conn = duckdb.connect()
    reader = functools.partial(
        read_delivery, "ijw_messages", ReadContext(PSEUDONYMISER, ijw_xsd_dir, None)
    )
    summary = load_source(
        conn, landing, "ijw_messages", SOURCES_BY_NAME["ijw_messages"].tables, reader
    )
    rows = {
        r[0]: r[1:]
        for r in conn.execute(
            "select path, status, rows_read, rows_loaded, rows_quarantined, error from "
            "raw.deliveries"
        ).fetchall()
    }
    assert rows[f"ijw/GM1895/{good.name}"][:4] == ("loaded", 5, 5, 0)
    assert rows["ijw/GM1895/GM1895_ijw_2024-04_20240510.zip"][:4] == ("loaded", 6, 5, 1)
    status, *_, error = rows["ijw/GM1895/GM1895_ijw_2024-05_20240610.zip"]
    assert status == "failed" and "over the 42 MB limit for one archive" in error
    reasons = conn.execute("select reason_code, reason from raw.quarantine").fetchall()
    assert (
        len(reasons) == 1
        and reasons[0][0] == "limit_exceeded"
        and "compression ratio" in reasons[0][1]
    )
    for status, read_, loaded, quarantined_, _ in rows.values():
        assert status == "failed" or read_ == loaded + quarantined_
    assert summary.count("loaded") == 2 and summary.count("failed") == 1


def test_school_exports_over_a_limit_fail_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    limit(monkeypatch, line_chars=4096)
    landing = tmp_path / "landing"
    for school in ("99WA00", "99WB00", "99WC00"):
        (landing / "schools" / school).mkdir(parents=True)
    good = landing / "schools/99WA00/99WA00_verzuim_2016-2017_20170810.csv"
    good.write_bytes(export_bytes("school_absence", ABSENCE, Dialect("semicolon_cp1252")))
    (landing / "schools/99WB00/99WB00_verzuim_2016-2017_20170810.csv").write_bytes(
        b"BSN;Datum;Uren;Soort verzuim\n" + b"x" * 10_000 + b"\n"
    )
    bomb = workbook_with_sheet(tmp_path, "bomb.xlsx", SHEET_HEAD, b"<row/>", 16 * MiB, SHEET_TAIL)
    bomb.rename(landing / "schools/99WC00/99WC00_verzuim_2016-2017_20170810.xlsx")
    conn = duckdb.connect()
    reader = functools.partial(
        read_delivery, "school_absence", ReadContext(PSEUDONYMISER, None, None)
    )
    load_source(conn, landing, "school_absence", ["school_absence"], reader)
    rows = {
        r[0].split("/")[1]: r[1:]
        for r in conn.execute(
            "select path, status, rows_read, rows_loaded, rows_quarantined, error from "
            "raw.deliveries"
        ).fetchall()
    }
    assert rows["99WA00"][0] == "loaded" and rows["99WA00"][1] == rows["99WA00"][2] + rows[
        "99WA00"
    ][3] == len(ABSENCE)
    assert (
        rows["99WB00"][0] == "failed"
        and "longer than the 4,096-character limit" in rows["99WB00"][4]
    )
    assert rows["99WC00"][0] == "failed" and "compression ratio" in rows["99WC00"][4]


# ---------------------------------------------------------------------------------------------
# The leak scanner's sample of names, and the configuration
# ---------------------------------------------------------------------------------------------


def test_leak_scanner_samples_names_within_the_same_limits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    limit(monkeypatch, compression_ratio=10**6, elements=100_000)
    path = empty_elements_bomb(tmp_path, extra=all_messages())
    (people, _), rise = peak_rise(lambda: _names_from_zip(path))
    assert SURNAME in people  # the regular members are still read
    assert rise < MEMORY_RISE_LIMIT
    endless = tmp_path / "99WA00_inschrijvingen_2016-2017_20170810.csv"
    endless.write_bytes(b"Achternaam;BSN\n" + b"A" * (3 * MiB))
    with pytest.raises(DeliveryError, match="longer than"):
        _names_from_table(endless)


def test_limits_come_from_the_environment_and_are_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    assert current_limits() == DEFAULT_LIMITS
    limit(monkeypatch, member_bytes=1_000)
    assert (
        current_limits().member_bytes == 1_000
        and current_limits().elements == DEFAULT_LIMITS.elements
    )
    monkeypatch.setenv("PILOTMONITOR_LIMIT_ELEMENTS", "many")
    with pytest.raises(ValueError, match="PILOTMONITOR_LIMIT_ELEMENTS"):
        current_limits()
    monkeypatch.setenv("PILOTMONITOR_LIMIT_ELEMENTS", "0")
    with pytest.raises(ValueError, match="elements must be a positive"):
        current_limits()
