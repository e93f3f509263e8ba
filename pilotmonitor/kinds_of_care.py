"""Kinds of care: which JZ020 product category counts as which kind.

Three kinds, as the pilots' own documents split youth care (Hoogeveen: fewer referrals to
*jeugdzorg* and child psychiatry; Groningen: savings on youth-care spending by kind):

* ``jeugdzorg``: general youth care (the Dutch term the seed documents use), every
  category that is neither of the other two;
* ``youth_mental_health``: youth mental health care (*jeugd-GGZ*, which holds child and
  adolescent psychiatry, *KJP*);
* ``intensive_with_stay``: intensive care with stay (*verblijf*: residential care and
  foster care).

The mapping is written once, in the dbt seed ``ijw_product_categories`` (the JZ020 code
list with a ``kind_of_care`` column); the warehouse joins it and the synthetic generator
reads it from here. The analysis plan's outcomes per kind (labels in both languages) are
in ``pilotmonitor.analysis_plan.outcomes``.
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
