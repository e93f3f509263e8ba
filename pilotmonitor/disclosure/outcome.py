"""The result of checking one output: status, reasons, per-rule checks, released table."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

PASS, REVIEW, FAIL = "pass", "review", "fail"
_RANK = {PASS: 0, REVIEW: 1, FAIL: 2}


class DisclosureError(ValueError):
    """A statistic that may never leave the warehouse (e.g. a minimum or maximum)."""


def worst(statuses) -> str:
    """fail beats review beats pass; no statuses at all is a pass."""
    return max(statuses, key=_RANK.__getitem__, default=PASS)


def check(
    rule: str,
    threshold: Any,
    cells_checked: int,
    cells_flagged: int,
    outcome: str,
    detail: str = "",
) -> dict:
    """One row of an output's `checks` list (the log's unit of evidence)."""
    return {
        "rule": rule,
        "threshold": threshold,
        "cells_checked": int(cells_checked),
        "cells_flagged": int(cells_flagged),
        "outcome": outcome,
        "detail": detail,
    }


@dataclass(eq=False)  # identity: outputs hold DataFrames
class CheckedOutput:
    """One checked output. `table` keeps every row; suppressed cells are NaN and marked
    True in `suppressed` (same shape as `table`)."""

    name: str
    kind: str  # frequency | magnitude | model | figure
    status: str
    reasons: list[str] = field(default_factory=list)
    checks: list[dict] = field(default_factory=list)
    table: pd.DataFrame | None = None
    suppressed: pd.DataFrame | None = None
    path: Path | None = None
    sources: list[str] = field(default_factory=list)

    @property
    def n_suppressed(self) -> int:
        return 0 if self.suppressed is None else int(self.suppressed.to_numpy().sum())

    @property
    def releasable(self) -> bool:
        return self.status != FAIL

    def to_log(self) -> dict:
        return {
            "name": self.name,
            "kind": self.kind,
            "status": self.status,
            "reasons": list(self.reasons),
            "checks": list(self.checks),
            "cells_suppressed": self.n_suppressed,
            "rows": None if self.table is None else int(len(self.table)),
            "path": None if self.path is None else str(self.path),
            "sources": list(self.sources),
        }


def finish(name: str, kind: str, checks: list[dict], reasons: list[str], **kwargs) -> CheckedOutput:
    """Build the output with status = the worst check outcome."""
    return CheckedOutput(
        name=name,
        kind=kind,
        status=worst(c["outcome"] for c in checks),
        reasons=reasons,
        checks=checks,
        **kwargs,
    )
