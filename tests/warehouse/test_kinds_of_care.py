"""The kinds of care (jeugdzorg, youth mental health, with stay) rest on one mapping, the
JZ020 seed of the warehouse. It must cover the iJw code list as published (read from the
shared reference material, never copied into the repository), say what the pilots' own
documents mean by each kind, and agree with the outcome registry and the generator."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pilotmonitor.evaluation.outcomes import KINDS_OF_CARE, OUTCOMES
from pilotmonitor.kinds_of_care import kind_by_category, kinds
from pilotmonitor.settings import REPO_ROOT
from pilotmonitor.synth.care import PRODUCTS

JZ020 = (
    REPO_ROOT.parent / "shared" / "reference" / "ijw-3.2" / "codelijsten" / "JZ020_Productcategorie"
)
MACRO = REPO_ROOT / "dbt_project" / "macros" / "kinds_of_care.sql"


def reference_codes(path: Path) -> dict[str, str]:
    """Code -> description from the markdown table of the published code list."""
    rows = re.findall(
        r"^\|\s*(\d{2})\s*\|\s*(.*?)\s*\|\s*$", path.read_text(encoding="utf-8"), flags=re.M
    )
    return dict(rows)


@pytest.fixture(scope="module")
def jz020() -> dict[str, str]:
    if not JZ020.is_file():
        pytest.skip(f"JZ020 code list not found at {JZ020}")
    codes = reference_codes(JZ020)
    assert len(codes) > 20, "the JZ020 table was not read"
    return codes


def test_every_jz020_code_of_the_reference_list_has_a_kind(jz020):
    mapping = kind_by_category()
    assert sorted(set(jz020) - set(mapping)) == [], "codes of the code list without a kind of care"
    assert sorted(set(mapping) - set(jz020)) == [], "seed codes that are not in the code list"
    assert all(mapping[code] for code in jz020)


def test_the_seed_describes_each_category_as_the_code_list_does(jz020):
    import csv

    from pilotmonitor.kinds_of_care import PRODUCT_CATEGORY_SEED

    with PRODUCT_CATEGORY_SEED.open(encoding="utf-8") as handle:
        seed = {row["code"]: row["description_nl"] for row in csv.DictReader(handle)}
    assert seed == jz020


def test_the_kinds_follow_the_code_list_descriptions(jz020):
    """Care with stay is what the list calls 'verblijf' (not 'zonder verblijf'), mental
    health what it calls ggz; everything else is general youth care."""
    mapping = kind_by_category()
    for code, description in jz020.items():
        text = description.lower()
        if "ggz" in text:
            expected = "youth_mental_health"
        elif "verblijf" in text and "zonder verblijf" not in text:
            expected = "intensive_with_stay"
        else:
            expected = "jeugdzorg"
        assert mapping[code] == expected, (code, description)
    assert (
        mapping["54"] == "youth_mental_health"
        and mapping["43"] == "intensive_with_stay"
        and mapping["45"] == "jeugdzorg"
    )


def test_registry_macro_and_generator_know_the_same_kinds():
    assert (
        set(KINDS_OF_CARE) == kinds() == {"jeugdzorg", "youth_mental_health", "intensive_with_stay"}
    )
    macro = re.findall(r"'([a-z_]+)'", MACRO.read_text(encoding="utf-8"))
    assert macro == list(KINDS_OF_CARE), (
        "dbt macro kinds_of_care and the registry list the kinds in the same order"
    )
    for kind in KINDS_OF_CARE:
        count, cost = OUTCOMES[f"referrals_{kind}"], OUTCOMES[f"youth_care_cost_{kind}_per_pupil"]
        assert (count.kind, count.count, count.better) == (
            "count",
            f"new_referrals_{kind}",
            "lower",
        )
        assert (cost.kind, cost.numerator, cost.unit) == (
            "rate",
            f"declared_cost_cents_{kind}",
            "eur",
        )
        assert (
            count.label["nl"] != count.label["en"]
            and all(count.label.values())
            and all(cost.label.values())
        )
    assert set(PRODUCTS.kind_of_care) == kinds(), "the generator draws every kind"


def test_generator_shares_of_the_kinds_are_realistic():
    """About 60% general youth care, a third youth mental health, under a tenth with stay."""
    shares = PRODUCTS.groupby("kind_of_care").share.sum()
    assert PRODUCTS.share.sum() == pytest.approx(1.0)
    assert shares["jeugdzorg"] == pytest.approx(0.60) and shares[
        "youth_mental_health"
    ] == pytest.approx(0.32)
    assert shares["intensive_with_stay"] == pytest.approx(0.08)
