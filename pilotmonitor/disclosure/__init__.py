"""Statistical disclosure control (SDC) for everything that leaves the warehouse.

Every table, figure and model output of a release (a policymaker report, an export)
is checked with the rules research data centres apply, using ACRO (AI-SDC's
Automatic Checking of Research Outputs) as the public reference:

- thresholds come from ACRO's default.yaml (DisclosureRules.from_acro(); documented
  fallback constants when ACRO is absent): at least 10 units per cell, N-K dominance
  n=2 k=0.90, p% rule p=0.10, residual degrees of freedom at least 10, and ACRO's
  `zeros_are_disclosive` (True: a zero count is suppressed like a small one; False:
  zeros are published as they are);
- no minima, maxima, medians or other values of individuals (DisclosureError);
- no identifiers in any output: pupil pseudonyms, BSNs, names, addresses (fail).

Statuses: "pass" nothing flagged; "review" cells were suppressed (safe as released,
an output checker should look) or something cannot be judged automatically; "fail"
must not be released. Suppressed cells stay in the table as NaN, marked in
`CheckedOutput.suppressed`; rows are never dropped. Release.write_log() writes
disclosure_log.json plus a Markdown and a CSV view for the output checker.

How ACRO is used, and what is hand-written and why:
- Magnitude tables from microdata: our rules (cells.py) run on each contributor's
  total per cell, and ACRO's own pivot_table checks run on the same contributor-level
  data in a quiet ACRO session; a cell flagged by either is suppressed and any
  disagreement is logged. Hand-written because ACRO judges dominance per record (a
  pupil with many invoice lines would count as many contributors) and its redaction
  cannot keep every row of a multi-level table.
- Frequency tables: our marts deliver pre-aggregated counts (school-month,
  group-period); ACRO only tabulates microdata, so the threshold rule is applied to the
  count column here, with derived columns (rates) suppressed alongside.
- Models: our estimates come from the analysis plan as a table, not from an ACRO-run
  statsmodels fit, so ACRO's MinimumDoFCheck is applied to its df_resid column.
- Figures inherit the verdicts of the checked outputs they plot; ACRO's blocked file
  types apply.
Not done (as in ACRO, left to the output checker): secondary suppression against
differencing between linked tables or with published totals.

Usage::

    rules = DisclosureRules.from_acro()
    release = Release("report-x", out_dir=Path("out"), rules=rules)
    ct = release.frequency("trend", table, count_column="new_referrals", derived=["rate_per_100"])
    mt = release.magnitude("costs", micro, by=["group", "year"], value="cost_eur",
                           contributor="pupil_pseudonym")
    mo = release.model("effects", estimates_df)
    fo = release.figure("trend_chart", sources=[ct], path=Path("trend.png"))
    release.write_log()
"""

from .outcome import FAIL, PASS, REVIEW, CheckedOutput, DisclosureError
from .release import SUPPRESSED_MARK, Release, display_table
from .rules import DisclosureRules

__all__ = [
    "FAIL",
    "PASS",
    "REVIEW",
    "SUPPRESSED_MARK",
    "CheckedOutput",
    "DisclosureError",
    "DisclosureRules",
    "Release",
    "display_table",
]
