"""Kinds of care: which JZ020 product category counts as which kind.

Three kinds: ``jeugdzorg``, ``youth_mental_health`` and ``intensive_with_stay``. The
mapping is written once, in the dbt seed ``ijw_product_categories``; the warehouse joins
it and the synthetic generator reads it from here.

Design notes: docs/design/kinds_of_care.md#pilotmonitorkinds_of_carepy.
"""

from __future__ import annotations

import csv
from functools import cache

from pilotmonitor.settings import REPO_ROOT

PRODUCT_CATEGORY_SEED = REPO_ROOT / "dbt_project" / "seeds" / "codes" / "ijw_product_categories.csv"


@cache
def kind_by_category() -> dict[str, str]:
    """JZ020 product category code -> kind of care, from the seed."""
    with PRODUCT_CATEGORY_SEED.open(encoding="utf-8") as handle:
        return {row["code"]: row["kind_of_care"] for row in csv.DictReader(handle)}


def kinds() -> frozenset[str]:
    """The kinds the seed maps categories to."""
    return frozenset(kind_by_category().values())
