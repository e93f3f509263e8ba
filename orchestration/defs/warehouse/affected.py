"""Which dbt nodes a change of some raw tables reaches: a monthly `dbt build` rebuilds
those and their tests, and keeps the rest as the last build left it (reuse.py decides
when that is allowed).

The delivery register (``raw.deliveries``) is read by every staging model, but through
the ``current_rows`` macro, which joins a table's rows to their own deliveries only
(delivery ids are per source: pilotmonitor/ingest/deliveries.py), or through
``current_deliveries``, which reads one source's entries and names that source's table
(both in dbt_project/macros/current_rows.sql). A new delivery of one source therefore
reaches the models reading that source, not every reader of the register; nodes that
read the register any other way (a model naming it, a test on it) are reached by any
change to it.

Pure functions of the manifest, so the rule is tested on the project's real graph.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

RAW_SOURCE = "raw"
REGISTER_TABLE = "deliveries"
# dbt_project/macros/current_rows.sql
PARTITIONED_READ_MACROS = frozenset({"current_rows", "current_deliveries"})
BUILT = ("model", "seed", "snapshot")


def _raw_source_id(manifest: Mapping[str, Any], table: str) -> str | None:
    for unique_id, node in manifest.get("sources", {}).items():
        if node.get("source_name") == RAW_SOURCE and node.get("name") == table:
            return unique_id
    return None


def _mentions_register(text: str) -> bool:
    return f"'{REGISTER_TABLE}'" in text or f'"{REGISTER_TABLE}"' in text


def _reads_register_per_source(manifest: Mapping[str, Any], node: Mapping[str, Any]) -> bool:
    """A model that reads the register only through the per-source macros."""
    if node.get("resource_type") != "model":
        return False
    macros = node.get("depends_on", {}).get("macros", [])
    if not any(m.rsplit(".", 1)[-1] in PARTITIONED_READ_MACROS for m in macros):
        return False
    if _mentions_register(node.get("raw_code", "")):
        return False
    others = (manifest.get("macros", {}).get(m, {}) for m in macros)
    return not any(
        _mentions_register(macro.get("macro_sql", ""))
        for macro in others
        if macro.get("name") not in PARTITIONED_READ_MACROS
    )


def reached_by(
    manifest: Mapping[str, Any], changed_tables: Iterable[str], register_changed: bool
) -> set[str]:
    """The unique ids of the nodes (sources, models, seeds, snapshots, data tests) whose
    result can differ after these raw tables changed (unit tests test code, not data, and
    pipeline builds leave them out). ``changed_tables`` must already
    include the tables of every source whose deliveries changed in the register."""
    children, nodes = manifest["child_map"], manifest["nodes"]
    register = _raw_source_id(manifest, REGISTER_TABLE)
    roots = {
        unique_id
        for table in changed_tables
        if table != REGISTER_TABLE and (unique_id := _raw_source_id(manifest, table))
    }
    if register_changed and register is not None:
        roots.add(register)
    reached, stack = set(roots), list(roots)
    while stack:
        node = stack.pop()
        for child in children.get(node, []):
            if child in reached or child.startswith("unit_test."):
                continue
            if (
                node == register
                and child in nodes
                and _reads_register_per_source(manifest, nodes[child])
            ):
                continue  # reached through its own table, if that changed
            reached.add(child)
            stack.append(child)
    return reached


def kept(manifest: Mapping[str, Any], reached: set[str]) -> tuple[list[str], set[str]]:
    """What a build of the ``reached`` nodes leaves as it was: (dbt selectors to
    ``--exclude``: every model, seed and snapshot not reached and every raw source not
    changed; the data tests that exclusion skips under ``--indirect-selection cautious``,
    those whose every parent is excluded)."""
    excluded: set[str] = set()
    selectors: list[str] = []
    for unique_id, node in sorted(manifest["nodes"].items()):
        if node["resource_type"] in BUILT and unique_id not in reached:
            excluded.add(unique_id)
            selectors.append(node["name"])
    for unique_id, node in sorted(manifest.get("sources", {}).items()):
        if unique_id not in reached:
            excluded.add(unique_id)
            selectors.append(f"source:{node['source_name']}.{node['name']}")
    tests = {
        unique_id
        for unique_id, node in manifest["nodes"].items()
        if node["resource_type"] == "test"
        and set(node.get("depends_on", {}).get("nodes", [])) <= excluded
    }
    return selectors, tests


def kept_relations(manifest: Mapping[str, Any], reached: set[str]) -> set[str]:
    """The relations ("schema.name") of the models, seeds and snapshots a build of the
    ``reached`` nodes does not write."""
    return {
        f"{node['schema']}.{node.get('alias') or node['name']}"
        for unique_id, node in manifest["nodes"].items()
        if node["resource_type"] in BUILT and unique_id not in reached
    }


__all__ = ["REGISTER_TABLE", "kept", "kept_relations", "reached_by"]
