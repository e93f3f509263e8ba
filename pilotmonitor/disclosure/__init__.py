"""Statistical disclosure control (SDC) for everything that leaves the warehouse.

Every table, figure and model output of a release (a policymaker report, an export) is
checked with the rules research data centres apply (ACRO's thresholds): "pass", "review"
(cells suppressed) or "fail" (must not be released). Usage: a ``Release``, its
``frequency``/``magnitude``/``model``/``figure`` checks, then ``release.write_log()``.

Design notes: docs/design/disclosure.md#pilotmonitordisclosure__init__py.
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
