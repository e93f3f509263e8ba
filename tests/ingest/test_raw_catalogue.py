"""The raw-table catalogue (raw_tables.yml) is the one declaration of the raw layer: the
warehouse DDL, the sources' tables, the GX suites, the leak scan's classes and dbt's
sources all follow it, and a contradictory catalogue is refused with the place named."""

import json

import duckdb
import pytest
import yaml

from pilotmonitor.ingest import column_policy, raw_catalogue, warehouse_raw
from pilotmonitor.ingest.raw_catalogue import CatalogueError, catalogue, parse
from pilotmonitor.ingest.sources import SOURCES
from pilotmonitor.quality import suite_builder


def test_the_dbt_sources_file_is_generated_from_the_catalogue():
    assert raw_catalogue.main(["--check"]) == 0, "run: python -m pilotmonitor.ingest.raw_catalogue"
    dbt_tables = {
        t["name"]: t
        for t in yaml.safe_load(raw_catalogue.DBT_SOURCES_PATH.read_text())["sources"][0]["tables"]
    }
    assert list(dbt_tables) == list(catalogue().tables)
    enrolments = {c["name"]: c for c in dbt_tables["school_enrolments"]["columns"]}
    assert enrolments["pupil_pseudonym"]["meta"] == {"identifier_class": "pseudonym"}
    assert enrolments["pupil_pseudonym"]["data_type"] == "VARCHAR"
    path = next(c for c in dbt_tables["deliveries"]["columns"] if c["name"] == "path")
    assert path["data_tests"] == ["unique", "not_null"]  # the register's primary key


def test_every_column_and_table_is_described():
    cat = catalogue()
    undocumented = [
        f"{t.name}.{c.name}"
        for t in cat.tables.values()
        for c in t.columns
        if len(c.description) < 10 or "TODO" in c.description
    ] + [t.name for t in cat.tables.values() if len(t.description) < 10]
    assert undocumented == []


def test_every_delivered_table_with_pseudonyms_records_their_key_version():
    """A pseudonym or reference links only with others of the same key: every delivered row
    carrying one says which key version made it (`pilotmonitor rekey`, one_key_version)."""
    missing = [
        t.name
        for t in catalogue().tables.values()
        if any(c.klass in column_policy.PSEUDONYMISED for c in t.columns)
        and "key_version" not in {c.name for c in t.columns}
    ]
    assert missing == []


def test_the_warehouse_ddl_is_the_catalogue():
    conn = duckdb.connect()
    warehouse_raw.ensure_schema(conn)
    built: dict[str, dict[str, str]] = {}
    for table, column, kind in conn.execute(
        "select table_name, column_name, data_type from information_schema.columns "
        "where table_schema = 'raw' order by table_name, ordinal_position"
    ).fetchall():
        built.setdefault(table, {})[column] = kind
    declared = {
        name: table.types()
        for name, table in catalogue().tables.items()
        if table.kind in ("delivered", "register")
    }
    assert built == declared
    assert all(
        column_policy.column_class(c) == column_policy.COLUMNS[c] for t in built.values() for c in t
    )


def test_sources_fill_the_tables_the_catalogue_gives_them():
    named = {s for table in catalogue().of_kind("delivered").values() for s in table.sources}
    assert named == {source.name for source in SOURCES}
    by_name = {source.name: source for source in SOURCES}
    assert (
        by_name["ijw_extracts"].tables
        == by_name["ijw_messages"].tables
        == (
            "ijw_requests",
            "ijw_allocations",
            "ijw_starts",
            "ijw_stops",
            "ijw_declaration_lines",
        )
    )
    # a source identifies people when its tables hold pseudonymised values
    assert {s.name for s in SOURCES if s.identifies_people} == {
        "school_enrolments",
        "school_absence",
        "leerplicht_register",
        "ijw_messages",
        "ijw_extracts",
        "survey_responses",
    }


def test_the_reviewed_gx_suites_follow_the_catalogue():
    for name, table in catalogue().of_kind("delivered").items():
        suite = json.loads((suite_builder.EXPECTATIONS_DIR / f"{name}.json").read_text())
        column_sets = [
            e["kwargs"]["column_set"]
            for e in suite["expectations"]
            if e["type"] == "expect_table_columns_to_match_set"
        ]
        assert column_sets == [list(table.types())], name
        assert suite["meta"]["sources"] == list(table.sources), name


def test_a_table_may_say_more_about_a_shared_column():
    cat = parse(
        {
            "columns": {
                "delivery_id": {"type": "VARCHAR", "class": "digest", "description": "its file"},
                "row_locator": {"type": "VARCHAR", "class": "text", "description": "its row"},
                "reason": {"type": "VARCHAR", "class": "text", "description": "why"},
            },
            "tables": {
                "absence": {
                    "kind": "delivered",
                    "sources": ["school_absence"],
                    "description": "absence",
                    "columns": ["delivery_id", "row_locator", {"reason": "why the pupil was away"}],
                }
            },
        }
    )
    assert cat.tables["absence"].columns[2].description == "why the pupil was away"
    assert cat.columns["reason"].description == "why"
    assert cat.tables_of_source("school_absence") == ("absence",)


def _one_table(**table) -> dict:
    columns = {
        name: {"type": "VARCHAR", "class": "code", "description": name}
        for name in ("delivery_id", "row_locator", "school_id")
    }
    spec = {
        "kind": "delivered",
        "sources": ["duo_schools"],
        "description": "schools",
        "columns": ["delivery_id", "row_locator", "school_id"],
    }
    return {"columns": columns, "tables": {"schools": {**spec, **table}}}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"columns": ["delivery_id", "row_locator", "brin"]}, "column brin has no definition"),
        ({"columns": ["school_id", "delivery_id", "row_locator"]}, "starts with delivery_id"),
        ({"columns": ["delivery_id", "row_locator"]}, "in no table: school_id"),
        ({"kind": "staging"}, "kind 'staging' is not one of"),
        ({"sources": []}, "delivered tables name their sources"),
        ({"primary_key": "brin"}, "primary key brin is not one of its columns"),
        ({"columns": ["delivery_id", "row_locator", "school_id", "school_id"]}, "listed twice"),
    ],
)
def test_a_contradictory_catalogue_is_refused_with_its_place(change, message):
    with pytest.raises(CatalogueError, match=message) as refused:
        parse(_one_table(**change))
    assert "schools" in str(refused.value) or "in no table" in str(refused.value)


def test_an_unknown_identifier_class_is_refused():
    data = _one_table()
    data["columns"]["school_id"]["class"] = "secret"
    with pytest.raises(CatalogueError, match="school_id: secret"):
        column_policy.check_classes(parse(data))
