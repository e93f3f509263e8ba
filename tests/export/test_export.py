"""The SECURE export of the published marts (on the SYNTHETIC demo warehouse, read-only)."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow.parquet as pq
import pytest

from pilotmonitor.export import (
    ExportError,
    SchemaNotFoundError,
    UnknownTableError,
    WarehouseNotFoundError,
    export_marts,
    export_release,
    load_mart_docs,
    read_export,
    verify_export,
)
from pilotmonitor.export.dictionary import MANIFEST_PATH, MARTS_DIR


@pytest.fixture(scope="module")
def warehouse(demo_data_dir) -> Path:
    path = demo_data_dir / "warehouse" / "pilotmonitor.duckdb"
    assert path.is_file()
    return path


@pytest.fixture(scope="module")
def published(warehouse) -> dict[str, int]:
    """Row count per documented mart in published (the expected export)."""
    docs = load_mart_docs()
    with duckdb.connect(str(warehouse), read_only=True) as conn:
        names = [
            r[0]
            for r in conn.execute(
                "select table_name from information_schema.tables where table_schema = "
                "'published' order by 1"
            ).fetchall()
        ]
        return {
            t: conn.execute(f"select count(*) from published.{t}").fetchone()[0]
            for t in names
            if t in docs.tables
        }


@pytest.fixture(scope="module")
def parquet_export(warehouse, tmp_path_factory):
    before = warehouse.stat().st_mtime_ns
    out = tmp_path_factory.mktemp("export_parquet")
    manifest = export_marts(warehouse, out)
    assert warehouse.stat().st_mtime_ns == before, "the export changed the warehouse file"
    return out, manifest


def test_files_written_and_row_counts(parquet_export, published):
    out, manifest = parquet_export
    assert set(manifest.tables) == set(published) and len(published) >= 10
    assert "publication_log" not in manifest.tables
    for table, rows in published.items():
        path = out / f"{table}.parquet"
        assert path.is_file()
        assert manifest.tables[table].rows == rows
        assert pq.ParquetFile(path).metadata.num_rows == rows
    for name in ("data_dictionary.md", "data_dictionary.json", "manifest.json"):
        assert (out / name).is_file()
    assert not list(out.glob("*.tmp"))


def test_manifest_json_hashes_and_provenance(parquet_export, published):
    out, manifest = parquet_export
    data = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert data["kind"] == "secure" and data["contains_pseudonyms"] is True
    assert data["schema"] == "published" and data["format"] == "parquet"
    assert "SYNTHETIC" in data["synthetic_data_note"]
    assert data["publication"]["status"] == "published" and data["publication"]["run_id"]
    listed = {f["file"]: f for f in data["files"]}
    assert set(listed) == {f"{t}.parquet" for t in published} | {
        "data_dictionary.md",
        "data_dictionary.json",
    }
    for name, entry in listed.items():
        assert hashlib.sha256((out / name).read_bytes()).hexdigest() == entry["sha256"]
        assert (out / name).stat().st_size == entry["bytes"]
        if entry["table"]:
            assert entry["rows"] == published[entry["table"]]
    assert verify_export(out) == []


def test_verify_export_detects_a_changed_file(parquet_export, tmp_path):
    out, _ = parquet_export
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    (copy / "dim_pilot.parquet").write_bytes((copy / "dim_pilot.parquet").read_bytes() + b"x")
    (copy / "data_dictionary.md").unlink()
    assert verify_export(copy) == [
        "dim_pilot.parquet: sha256 differs from the manifest",
        "data_dictionary.md: missing",
    ]


def test_parquet_readable_and_equal_to_warehouse(parquet_export, warehouse):
    out, _ = parquet_export
    with duckdb.connect(str(warehouse), read_only=True) as conn:
        for table in ("fct_school_month", "dim_pilot", "fct_pupil_month"):
            expected = conn.execute(f"select * from published.{table} order by all").df()
            via_pandas = pd.read_parquet(out / f"{table}.parquet")
            via_arrow = pq.read_table(out / f"{table}.parquet")
            assert list(via_pandas.columns) == list(expected.columns)
            assert via_arrow.num_rows == len(expected)
            arrow = conn.execute(f"select * from published.{table} order by all").arrow()
            # RecordBatchReader in duckdb >= 1.4
            arrow = arrow.read_all() if hasattr(arrow, "read_all") else arrow
            assert via_arrow.equals(arrow), table
            for col in expected.columns:  # parquet DATE reads as datetime.date objects in pandas
                if str(expected[col].dtype).startswith("datetime64"):
                    via_pandas[col] = pd.to_datetime(via_pandas[col]).astype("datetime64[ns]")
                    expected[col] = expected[col].astype("datetime64[ns]")
            pd.testing.assert_frame_equal(
                via_pandas.reset_index(drop=True), expected, check_dtype=False
            )


def test_csv_round_trip(warehouse, tmp_path):
    tables = ["dim_pilot", "dim_school", "fct_school_month", "fct_survey_scores", "fct_pupil_month"]
    manifest = export_marts(warehouse, tmp_path, fmt="csv", tables=tables)
    assert sorted(manifest.tables) == sorted(tables)
    with duckdb.connect(str(warehouse), read_only=True) as conn:
        for table in tables:
            expected = conn.execute(f"select * from published.{table} order by all").df()
            assert manifest.tables[table].rows == len(expected)
            # typed read-back (types from data_dictionary.json): exactly the warehouse frame
            pd.testing.assert_frame_equal(read_export(tmp_path, table), expected)
            # plain pandas: same header, rows and values (text columns read as text)
            types = {r[0]: r[1] for r in conn.execute(f"describe published.{table}").fetchall()}
            text = [c for c, kind in types.items() if kind == "VARCHAR"]
            got = pd.read_csv(tmp_path / f"{table}.csv", dtype={c: "string" for c in text})
            assert list(got.columns) == list(expected.columns) and len(got) == len(expected)
            for col, kind in types.items():
                if kind in ("DATE", "TIMESTAMP"):
                    got[col] = pd.to_datetime(got[col]).astype("datetime64[ns]")
                    expected[col] = pd.to_datetime(expected[col]).astype("datetime64[ns]")
                elif kind == "VARCHAR":
                    expected[col] = expected[col].astype("string")
            for frame in (
                got,
                expected,
            ):  # one null marker: None (non-numeric), NaN (numeric, e.g. nullable Int32)
                for col, kind in types.items():
                    if kind in ("VARCHAR", "BOOLEAN", "DATE", "TIMESTAMP"):
                        frame[col] = frame[col].astype("object").where(frame[col].notna(), None)
                    else:
                        frame[col] = frame[col].astype("float64")
            pd.testing.assert_frame_equal(
                got, expected, check_dtype=False, check_exact=False, rtol=1e-12
            )


def test_read_export_parquet_and_unknown(parquet_export):
    out, manifest = parquet_export
    frame = read_export(out, "dim_school")
    assert len(frame) == manifest.tables["dim_school"].rows
    with pytest.raises(UnknownTableError, match="not in the export"):
        read_export(out, "publication_log")


def test_dictionary_lists_every_column_with_description(parquet_export, warehouse):
    out, manifest = parquet_export
    data = json.loads((out / "data_dictionary.json").read_text(encoding="utf-8"))
    md = (out / "data_dictionary.md").read_text(encoding="utf-8")
    assert "SYNTHETIC" in md and "SECURE" in md
    entries = {e["table"]: e for e in data["tables"]}
    assert set(entries) == set(manifest.tables)
    with duckdb.connect(str(warehouse), read_only=True) as conn:
        for table in manifest.tables:
            physical = [r[0] for r in conn.execute(f"describe published.{table}").fetchall()]
            entry = entries[table]
            assert entry["description"], table
            assert [c["name"] for c in entry["columns"]] == physical, table
            assert f"## {table} " in md
            for col in entry["columns"]:
                assert col["description"], f"{table}.{col['name']} has no description"
                assert col["contract_data_type"], f"{table}.{col['name']} has no contract type"
                assert col["duckdb_type"]
                assert f"| `{col['name']}` |" in md
    assert manifest.warnings == []


def test_dictionary_from_yaml_equals_manifest_when_current():
    yaml_docs = load_mart_docs(manifest=None)
    assert yaml_docs.source == "yaml"
    assert "fct_pupil_month" in yaml_docs.tables
    col = yaml_docs.tables["fct_pupil_month"].column("pupil_pseudonym")
    assert col.data_type == "varchar" and col.not_null and "pseudonym" in col.description
    docs = load_mart_docs()
    if docs.source == "manifest":
        for name, table in yaml_docs.tables.items():
            assert [c.name for c in docs.tables[name].columns] == [c.name for c in table.columns]
    else:
        assert not MANIFEST_PATH.is_file() or any(
            p.stat().st_mtime > MANIFEST_PATH.stat().st_mtime for p in MARTS_DIR.glob("*")
        )


def test_export_is_reproducible(warehouse, tmp_path):
    a = export_marts(warehouse, tmp_path / "a", fmt="csv", tables=["fct_school_month"])
    b = export_marts(warehouse, tmp_path / "b", fmt="csv", tables="fct_school_month")
    assert a.tables["fct_school_month"].sha256 == b.tables["fct_school_month"].sha256


def test_unknown_table_error(warehouse, tmp_path):
    with pytest.raises(UnknownTableError, match="no_such_mart") as info:
        export_marts(warehouse, tmp_path / "x", tables=["dim_pilot", "no_such_mart"])
    assert "available: " in str(info.value) and "dim_pilot" in str(info.value)
    assert not (tmp_path / "x").exists()


def test_missing_warehouse_schema_and_format(warehouse, tmp_path):
    with pytest.raises(WarehouseNotFoundError, match="warehouse not found"):
        export_marts(tmp_path / "nope.duckdb", tmp_path / "out")
    with pytest.raises(SchemaNotFoundError, match="no_schema"):
        export_marts(warehouse, tmp_path / "out", schema="no_schema")
    empty = tmp_path / "empty.duckdb"
    duckdb.connect(str(empty)).close()
    with pytest.raises(SchemaNotFoundError, match="nothing has been published"):
        export_marts(empty, tmp_path / "out")
    with pytest.raises(ValueError, match="unknown format"):
        export_marts(warehouse, tmp_path / "out", fmt="xlsx")
    assert issubclass(UnknownTableError, ExportError)


def test_release_export_holds_only_checked_aggregates(warehouse, tmp_path):
    out = tmp_path / "release"
    manifest = export_release(warehouse, out, synthetic=True)
    assert manifest.kind == "release" and not manifest.contains_pseudonyms
    assert verify_export(out) == []
    log = json.loads((out / "disclosure_log.json").read_text(encoding="utf-8"))
    logged = {o["name"]: o for o in log["outputs"]}
    written = {f.table for f in manifest.files if f.table}
    # every written table was checked and did not fail; failed outputs were not written
    assert written and all(logged[t]["status"] in ("pass", "review") for t in written)
    assert not {n for n, o in logged.items() if o["status"] == "fail"} & written
    with duckdb.connect(str(warehouse), read_only=True) as conn:
        pseudonyms = {
            r[0]
            for r in conn.execute(
                "select distinct pupil_pseudonym from published.fct_pupil_month"
            ).fetchall()
        }
    for f in manifest.files:
        text = (out / f.file).read_text(encoding="utf-8")
        assert not any(p in text for p in list(pseudonyms)[:2000]), f.file
    # frequency tables: each released count is at least the threshold, else shown as 'x'
    referrals = pd.read_csv(out / "referrals_by_pilot_group_half_year.csv", dtype=str)
    shown = referrals["new_referrals"][referrals["new_referrals"] != "x"].astype(int)
    assert (
        shown >= 10
    ).all()  # (at small scale every cell may be below the threshold: checked below)
    suppressed = referrals["new_referrals"] == "x"
    assert (referrals.loc[suppressed, "new_referrals_per_100_pupil_months"] == "x").all()
    # the suppressed rows are the ones whose count in the warehouse is below 10 (or 0)
    with duckdb.connect(str(warehouse), read_only=True) as conn:
        small = conn.execute("""
            select count(*) from (select a.pilot_id, a.role, year(m.month), month(m.month) <= 6, sum(m.new_referrals) as n
                                  from published.fct_school_month m join published.dim_pilot_assignment a using (school_id)
                                  group by all) where n < 10""").fetchone()[0]  # noqa: E501
    assert int(suppressed.sum()) == small


def test_yaml_fallback_and_truncated_descriptions(tmp_path):
    marts = tmp_path / "marts"
    marts.mkdir()
    (marts / "_m.yml").write_text(
        "version: 2\n"
        "models:\n"
        "  - name: fct_x\n"
        "    description: A mart.\n"
        "    config: {contract: {enforced: true}}\n"
        "    columns:\n"
        "      - {name: a, data_type: bigint, description: Count of things.}\n"
        "      - {name: b, data_type: double precision, description: Cost, euros.}\n",
        encoding="utf-8",
    )
    stale = tmp_path / "manifest.json"
    stale.write_text("{}", encoding="utf-8")
    import os

    os.utime(stale, (0, 0))  # older than the YAML: not used
    docs = load_mart_docs(manifest=stale, marts_dir=marts)
    assert docs.source == "yaml" and docs.tables["fct_x"].contract_enforced
    assert [c.name for c in docs.tables["fct_x"].columns] == ["a", "b"]
    assert docs.tables["fct_x"].column("b").description == "Cost"
    assert docs.problems == (
        "fct_x.b: description truncated at a comma (unquoted in _m.yml; stray key 'euros.')",
    )
    with pytest.raises(FileNotFoundError, match="no mart documentation"):
        load_mart_docs(manifest=None, marts_dir=tmp_path / "empty")
