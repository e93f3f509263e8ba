"""The data dictionary of the marts, from the dbt documentation.

Source of truth, in order:

1. ``dbt_project/target/manifest.json`` when it exists and is not older than the mart
   documentation (``models/marts/*.yml`` / ``*.sql``): the parsed dbt docs, the same
   text ``pilotmonitor docs`` shows. (``dbt parse`` is not run here: exporting must not
   need dbt; ``pilotmonitor/dbt_project.py`` refreshes the manifest whenever
   the code location loads.)
2. otherwise ``dbt_project/models/marts/*.yml`` parsed directly (always in the
   repository, so the dictionary never depends on a build artefact).

Each column carries its description and contract data type (``data_type`` in the dbt
contract); the exporter adds the physical DuckDB type of the exported table.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import yaml

from pilotmonitor.settings import REPO_ROOT

DBT_PROJECT_DIR = REPO_ROOT / "dbt_project"
MARTS_DIR = DBT_PROJECT_DIR / "models" / "marts"
MANIFEST_PATH = DBT_PROJECT_DIR / "target" / "manifest.json"


@dataclass(frozen=True)
class ColumnDoc:
    name: str
    description: str
    data_type: str | None  # contract type from the dbt docs
    not_null: bool = False  # not_null constraint in the contract


@dataclass(frozen=True)
class TableDoc:
    name: str
    description: str
    contract_enforced: bool
    columns: tuple[ColumnDoc, ...] = field(default_factory=tuple)

    def column(self, name: str) -> ColumnDoc | None:
        return next((c for c in self.columns if c.name == name), None)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class MartDocs:
    source: str  # "manifest" or "yaml"
    source_path: str
    tables: dict[str, TableDoc]
    problems: tuple[str, ...] = ()  # documentation defects found in the YAML (see yaml_problems)


def _clean(text: str | None) -> str:
    return " ".join(str(text or "").split())


def _not_null(constraints) -> bool:
    return any(isinstance(c, dict) and c.get("type") == "not_null" for c in constraints or [])


def _manifest_is_current(manifest: Path, marts_dir: Path) -> bool:
    if not manifest.is_file():
        return False
    built = manifest.stat().st_mtime
    return all(p.stat().st_mtime <= built for p in marts_dir.glob("*") if p.is_file())


def _from_manifest(manifest: Path) -> dict[str, TableDoc]:
    data = json.loads(manifest.read_text(encoding="utf-8"))
    tables: dict[str, TableDoc] = {}
    for node in data.get("nodes", {}).values():
        if node.get("resource_type") != "model":
            continue
        fqn = node.get("fqn") or []
        if len(fqn) < 3 or fqn[1] != "marts":
            continue
        name = node.get("alias") or node["name"]
        tables[name] = _table_doc(name, node, node.get("columns", {}).values())
    return tables


def _table_doc(name: str, model: dict, columns: Iterable[dict]) -> TableDoc:
    """A mart's documentation from its model entry: a manifest node or a YAML model, which
    describe a model and its columns with the same keys."""
    contract = (model.get("config") or {}).get("contract") or {}
    return TableDoc(
        name,
        _clean(model.get("description")),
        bool(contract.get("enforced")),
        tuple(
            ColumnDoc(
                c["name"],
                _clean(c.get("description")),
                c.get("data_type"),
                _not_null(c.get("constraints")),
            )
            for c in columns
        ),
    )


def _yaml_models(marts_dir: Path) -> Iterator[tuple[Path, dict]]:
    """(file, model entry) of every model in the marts' YAML files, in file order."""
    for path in sorted(marts_dir.glob("*.yml")) + sorted(marts_dir.glob("*.yaml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for model in doc.get("models") or []:
            yield path, model


_COLUMN_KEYS = {
    "name",
    "data_type",
    "description",
    "constraints",
    "data_tests",
    "tests",
    "meta",
    "config",
    "quote",
    "tags",
    "granularity",
    "doc_blocks",
}


def yaml_problems(marts_dir: Path = MARTS_DIR) -> tuple[str, ...]:
    """Columns whose YAML entry has keys dbt does not know: almost always a description
    cut at an unquoted comma inside a flow mapping (``{name: x, description: a, b}``
    makes ``b`` a key), so the published description is truncated."""
    problems = []
    for path, model in _yaml_models(Path(marts_dir)):
        for column in model.get("columns") or []:
            extra = [str(k) for k in column if k not in _COLUMN_KEYS]
            if extra:
                problems.append(
                    f"{model['name']}.{column.get('name')}: description truncated at a comma "
                    f"(unquoted in {path.name}; stray key {extra[0]!r})"
                )
    return tuple(problems)


def _from_yaml(marts_dir: Path) -> dict[str, TableDoc]:
    tables: dict[str, TableDoc] = {}
    for _, model in _yaml_models(marts_dir):
        tables[model["name"]] = _table_doc(model["name"], model, model.get("columns") or [])
    return tables


def load_mart_docs(manifest: Path | None = MANIFEST_PATH, marts_dir: Path = MARTS_DIR) -> MartDocs:
    """The documented marts (name -> TableDoc) from the dbt manifest if current, else the YAML."""
    if manifest is not None and _manifest_is_current(Path(manifest), Path(marts_dir)):
        tables = _from_manifest(Path(manifest))
        if tables:
            return MartDocs("manifest", str(manifest), tables, yaml_problems(marts_dir))
    tables = _from_yaml(Path(marts_dir))
    if not tables:
        raise FileNotFoundError(
            f"no mart documentation found: neither a current {manifest} nor models in "
            f"{marts_dir}/*.yml"
        )
    return MartDocs("yaml", str(marts_dir), tables, yaml_problems(marts_dir))


__all__ = [
    "ColumnDoc",
    "TableDoc",
    "MartDocs",
    "load_mart_docs",
    "yaml_problems",
    "MANIFEST_PATH",
    "MARTS_DIR",
]
