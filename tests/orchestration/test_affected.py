"""Which dbt nodes a change of raw tables reaches (orchestration/defs/warehouse/affected.py):
on the project's real graph, and the register rule on small hand-made graphs. That dbt
itself then runs exactly the reached nodes is tested on a real monthly build
(tests/warehouse/test_marts.py)."""

from __future__ import annotations

import json

import pytest

from orchestration.defs.warehouse import affected
from pilotmonitor.dbt_project import ensure_manifest
from pilotmonitor.ingest.sources import SOURCES


@pytest.fixture(scope="module")
def manifest() -> dict:
    return json.loads(ensure_manifest().read_text(encoding="utf-8"))


def _tables(name: str) -> tuple[str, ...]:
    (source,) = [s for s in SOURCES if s.name == name]
    return source.tables


def _models(ids) -> set[str]:
    return {i.split(".")[-1] for i in ids if i.startswith("model.")}


def test_a_new_school_export_reaches_the_school_models_not_the_ijw_ones(manifest):
    reached = _models(
        affected.reached_by(manifest, _tables("school_absence"), register_changed=True)
    )
    assert {"stg_school__absence", "int_pupil_months", "fct_pupil_month"} <= reached
    assert not {m for m in reached if m.startswith("stg_ijw__")}
    assert "stg_school__enrolments" not in reached and "dim_school" not in reached


def test_the_register_alone_reaches_only_its_direct_readers_and_what_follows(manifest):
    reached = _models(affected.reached_by(manifest, [], register_changed=True))
    assert "int_delivery_changes" in reached
    # they read it per source (current_rows, current_deliveries)
    assert not {m for m in reached if m.startswith("stg_")}
    assert "int_panel_window" not in reached


def test_a_new_ijw_month_leaves_the_pupil_panel_as_it_is(manifest):
    """The panel's months come from the enrolment exports and absence alone, so a
    monthly iJw delivery must not rebuild it (at the ZH+NH pool that was 80 s of a
    monthly run); the facts that join iJw to it are rebuilt."""
    reached = _models(affected.reached_by(manifest, _tables("ijw_messages"), register_changed=True))
    assert not {"int_panel_window", "int_pupil_months", "int_enrolment_spells"} & reached
    assert {"fct_referrals", "fct_pupil_month"} <= reached


def test_a_new_enrolment_export_reaches_the_panel_window(manifest):
    reached = _models(
        affected.reached_by(manifest, _tables("school_enrolments"), register_changed=True)
    )
    assert {"int_panel_window", "int_pupil_months", "fct_pupil_month"} <= reached


def test_a_table_no_model_reads_reaches_nothing(manifest):
    assert not _models(affected.reached_by(manifest, ["quarantine"], register_changed=False))


def test_nothing_changed_keeps_every_node_and_test(manifest):
    selectors, kept_tests = affected.kept(manifest, set())
    tests = {i for i, n in manifest["nodes"].items() if n["resource_type"] == "test"}
    assert kept_tests == tests
    assert "stg_school__absence" in selectors and "source:raw.school_absence" in selectors


def test_a_test_spanning_a_reached_and_a_kept_node_is_not_kept(manifest):
    reached = affected.reached_by(manifest, _tables("ijw_messages"), register_changed=True)
    _, kept_tests = affected.kept(manifest, reached)
    for test in kept_tests:
        assert not set(manifest["nodes"][test]["depends_on"]["nodes"]) & reached, test
    spanning = [
        i
        for i, n in manifest["nodes"].items()
        if n["resource_type"] == "test"
        and set(n["depends_on"]["nodes"]) & reached
        and set(n["depends_on"]["nodes"]) - reached
    ]
    assert spanning and not set(spanning) & kept_tests


def _graph(stg_code: str, stg_macros: list[str], macro_sql: str = "") -> dict:
    """raw.deliveries and raw.school_absence -> stg (one model) -> fct."""
    deliveries, absence = "source.p.raw.deliveries", "source.p.raw.school_absence"
    stg, fct = "model.p.stg", "model.p.fct"
    return {
        "sources": {
            deliveries: {"source_name": "raw", "name": "deliveries"},
            absence: {"source_name": "raw", "name": "school_absence"},
        },
        "nodes": {
            stg: {
                "resource_type": "model",
                "name": "stg",
                "raw_code": stg_code,
                "depends_on": {"macros": stg_macros, "nodes": [deliveries, absence]},
            },
            fct: {"resource_type": "model", "name": "fct", "depends_on": {"nodes": [stg]}},
        },
        "macros": {
            "macro.p.current_rows": {"name": "current_rows", "macro_sql": "deliveries"},
            "macro.p.other": {"name": "other", "macro_sql": macro_sql},
        },
        "child_map": {deliveries: [stg], absence: [stg], stg: [fct], fct: []},
        "parent_map": {stg: [deliveries, absence], fct: [stg]},
    }


@pytest.mark.parametrize(
    ("code", "macros", "macro_sql", "reached"),
    [
        ("{{ current_rows('school_absence') }}", ["macro.p.current_rows"], "", False),
        # the register named in the model itself: any change to it reaches the model
        (
            "{{ current_rows('school_absence') }} union select * from {{ source('raw', "
            "'deliveries') }}",
            ["macro.p.current_rows"],
            "",
            True,
        ),
        # ... or read through another macro
        (
            "{{ current_rows('school_absence') }} {{ other() }}",
            ["macro.p.current_rows", "macro.p.other"],
            "select * from {{ source('raw', 'deliveries') }}",
            True,
        ),
        ("select * from {{ source('raw', 'deliveries') }}", [], "", True),
    ],
)
def test_only_a_read_through_current_rows_is_per_source(code, macros, macro_sql, reached):
    graph = _graph(code, macros, macro_sql)
    got = affected.reached_by(graph, [], register_changed=True)
    assert ({"model.p.stg", "model.p.fct"} <= got) is reached
    # its own table reaches it either way
    assert "model.p.fct" in affected.reached_by(graph, ["school_absence"], register_changed=True)


def test_the_relations_a_build_leaves_alone_are_those_of_the_nodes_not_reached(manifest):
    reached = affected.reached_by(manifest, {"ijw_declaration_lines"}, register_changed=False)
    kept = affected.kept_relations(manifest, reached)
    assert "intermediate.int_pupil_months" in kept and "marts.dim_school" in kept
    assert "marts.fct_youth_care_costs" not in kept
    assert "intermediate.int_declaration_lines_netted" not in kept
    assert all(not name.startswith("raw.") for name in kept)  # sources are not dbt's
