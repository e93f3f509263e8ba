"""Static checks of the dbt project: the code-list seeds say what the iJw 3.2
specification says, and every mart and mart column is documented with a type (the
contract) and a description (what `dbt docs` shows researchers)."""

import csv
import re
from pathlib import Path

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
DBT_PROJECT = REPO_ROOT / "dbt_project"
CODE_LISTS = REPO_ROOT.parent / "shared" / "reference" / "ijw-3.2" / "codelijsten"

SEED_TO_CODE_LIST = {
    "ijw_referrer_types": "COD327_Code_verwijzer.md",
    "ijw_product_categories": "JZ020_Productcategorie",
    "ijw_end_reasons": "JZ588_Reden_beeindiging.md",
    "ijw_units": "WJ756_Eenheid.md",
    "ijw_frequencies": "WMO757_Frequentie.md",
    "ijw_debit_credit": "COD043_Indicatie_debet_credit.md",
    "ijw_sex": "COD046_Geslacht.md",
}
_CODE_ROW = re.compile(r"^\|\s*([0-9A-Z]{1,2})\s*\|\s*([^|]+?)\s*\|")


def specification_codes(path: Path) -> dict[str, str]:
    """Code -> meaning from the markdown table of a code list (rows after a 'Code' header)."""
    codes: dict[str, str] = {}
    in_codes = False
    for line in path.read_text(encoding="utf-8").splitlines():
        if re.match(r"^\|\s*Code\s*\|", line):
            in_codes = True
            continue
        match = _CODE_ROW.match(line) if in_codes else None
        if match:
            codes[match.group(1)] = match.group(2)
        elif in_codes and not line.startswith("|"):
            in_codes = False
    return codes


def seed_codes(name: str) -> dict[str, str]:
    with open(
        DBT_PROJECT / "seeds" / "codes" / f"{name}.csv", encoding="utf-8", newline=""
    ) as handle:
        return {row["code"]: row["description_nl"] for row in csv.DictReader(handle)}


@pytest.mark.parametrize("seed, code_list", sorted(SEED_TO_CODE_LIST.items()))
def test_code_list_seeds_match_the_specification(seed, code_list):
    path = CODE_LISTS / code_list
    if not path.is_file():
        pytest.skip(f"iJw code lists not found at {CODE_LISTS}")
    expected = specification_codes(path)
    assert expected, f"no codes parsed from {code_list}"
    assert seed_codes(seed) == expected


def _models_yaml(layer: str) -> dict[str, dict]:
    """The models documented in a layer: one `<model>.yml` beside each `<model>.sql`
    (staging keeps one folder per source, so the search is recursive)."""
    models = {}
    for path in (DBT_PROJECT / "models" / layer).rglob("*.yml"):
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for model in doc.get("models") or []:
            models[model["name"]] = model
    return models


def test_every_mart_has_an_enforced_contract_and_described_columns():
    documented = _models_yaml("marts")
    sql_models = {path.stem for path in (DBT_PROJECT / "models" / "marts").glob("*.sql")}
    assert sql_models == set(documented), (
        "every mart needs a documented entry (and no entry without a model)"
    )
    for name, model in documented.items():
        assert model.get("description", "").strip(), f"{name}: no description"
        assert model.get("config", {}).get("contract", {}).get("enforced") is True, (
            f"{name}: contract not enforced"
        )
        assert model.get("columns"), f"{name}: no columns"
        for column in model["columns"]:
            assert column.get("data_type"), f"{name}.{column['name']}: no data_type"
            assert str(column.get("description", "")).strip(), (
                f"{name}.{column['name']}: no description"
            )


def test_every_staging_and_intermediate_model_is_documented():
    for layer in ["staging", "intermediate"]:
        documented = _models_yaml(layer)
        sql_models = {path.stem for path in (DBT_PROJECT / "models" / layer).rglob("*.sql")}
        assert sql_models <= set(documented), (
            f"{layer}: undocumented models {sorted(sql_models - set(documented))}"
        )


def test_every_intermediate_model_and_column_is_described():
    """Intermediate models are documented column by column: what a column means, its
    unit and when it is null."""
    for name, model in _models_yaml("intermediate").items():
        assert str(model.get("description", "")).strip(), f"{name}: no description"
        assert model.get("columns"), f"{name}: no columns"
        for column in model["columns"]:
            assert str(column.get("description", "")).strip(), (
                f"{name}.{column['name']}: no description"
            )


def test_generic_test_arguments_use_the_arguments_key():
    """dbt 1.10+ wants generic-test arguments under `arguments:`; a bare keyword is a
    deprecation today and an error tomorrow."""
    for path in (DBT_PROJECT / "models").rglob("*.yml"):
        text = path.read_text(encoding="utf-8")
        for keyword in [
            "values:",
            "to:",
            "combination_of_columns:",
            "expression:",
            "compare_model:",
        ]:
            for line in text.splitlines():
                stripped = line.strip()
                if stripped.startswith(keyword):
                    raise AssertionError(f"{path.name}: '{stripped}' should sit under arguments:")


def test_each_model_has_its_yaml_beside_it():
    """One source of truth per model: `<model>.yml` beside `<model>.sql` holds its
    properties and unit tests; no other model YAML describes it."""
    models_dir = DBT_PROJECT / "models"
    for sql in models_dir.rglob("*.sql"):
        path = sql.with_suffix(".yml")
        assert path.is_file(), f"{sql.relative_to(models_dir)}: no {path.name} beside it"
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        assert [m["name"] for m in doc.get("models") or []] == [sql.stem], path.name
        for unit_test in doc.get("unit_tests") or []:
            assert unit_test["model"] == sql.stem, f"{path.name}: {unit_test['name']}"
    for path in models_dir.rglob("*.yml"):
        if not path.with_suffix(".sql").is_file():
            doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            assert not doc.get("models") and not doc.get("unit_tests"), (
                f"{path.relative_to(models_dir)}: models or unit tests belong beside their .sql"
            )
