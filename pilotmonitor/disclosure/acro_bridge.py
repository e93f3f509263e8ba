"""A quiet ACRO session used as the reference checker for magnitude tables.

ACRO is imported lazily and without side effects on the host process: its import
calls logging.basicConfig(level=INFO) and silences FutureWarnings globally, so the
import runs with a placeholder root handler (making basicConfig a no-op) inside
warnings.catch_warnings(); each call runs with ACRO's logger raised to ERROR and its
stdout/stderr captured. ACRO makes no network calls.

The session runs with suppression OFF: we only read ACRO's per-cell verdicts (its
outcome table) and apply suppression ourselves, because (a) ACRO's redaction
re-queries the data by cell label and fails on multi-level row indices, and (b) our
released table must keep every row. ACRO's finalise() is never called: with
suppression off its saved tables would hold the unsuppressed values.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import inspect
import io
import logging
import sys
import warnings
from dataclasses import dataclass

import pandas as pd

from .rules import DisclosureRules

# ACRO check names -> our rule names.
ACRO_RULES = {
    "MinimumThresholdCheck": "threshold",
    "NKCheck": "nk",
    "PPercentCheck": "p_percent",
    "negative": "negative",
    "missing": "missing",
}


def import_acro():
    """ACRO, imported without letting it configure the root logger (imported when first
    needed, or ahead by a run: run_helpers)."""
    root = logging.getLogger()
    placeholder = logging.NullHandler()
    root.addHandler(placeholder)
    try:
        with warnings.catch_warnings():
            import acro  # noqa: PLC0415  (lazy: heavy, and configures logging on import)
    finally:
        root.removeHandler(placeholder)
    _record_only_the_calling_line(acro)
    return acro


def _caller_frames() -> list[tuple]:
    """What ACRO's tables take from ``inspect.stack()``: the frame of the table method
    (first) and of its caller, whose source line ACRO records as the command."""
    method = sys._getframe(1)
    return [(method,), (method.f_back,)]


def _record_only_the_calling_line(acro) -> None:
    """ACRO calls ``inspect.stack()`` on every table only to record the calling source line
    (``acro.utils.get_command`` reads the second frame). That reads the source of every
    frame of the stack and scans every loaded module for each: about 0.1 s a table under
    Dagster, a second or more per run. The same two frames are handed over directly; the
    recorded command is unchanged (tested). Only an ACRO that still imports ``stack``
    from inspect is changed."""
    tables = getattr(acro, "acro_tables", None)
    if tables is not None and getattr(tables, "stack", None) is inspect.stack:
        tables.stack = _caller_frames


# ACRO formats whole tables into its debug and info messages before the logger drops them
# (f-strings and eager arguments: the evidence, every risk mask, the outcome table): 42% of
# a magnitude check, about 29 ms a table with pandas' default display options. Inside an
# ACRO call tables print as their first cell (about 3 ms); ACRO's verdicts and summaries
# are built from the frames, never from their text (tested).
_SHORT_TABLE_TEXT = ("display.max_rows", 1, "display.min_rows", 1, "display.max_columns", 1)


@contextlib.contextmanager
def _quiet():
    logger = logging.getLogger("acro")
    level = logger.level
    logger.setLevel(logging.ERROR)
    sink = io.StringIO()
    try:
        with (
            contextlib.redirect_stdout(sink),
            contextlib.redirect_stderr(sink),
            warnings.catch_warnings(),
            pd.option_context(*_SHORT_TABLE_TEXT),
        ):
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


@dataclass
class AcroVerdict:
    flags: pd.DataFrame  # one bool column per ACRO rule, index = cells (by columns)
    status: str  # ACRO's own status for the table
    summary: str

    @property
    def any(self) -> pd.Series:
        return self.flags.any(axis=1)


class AcroSession:
    """One ACRO session per release, configured with the release's thresholds."""

    def __init__(self, rules: DisclosureRules):
        acro = import_acro()
        self.version = importlib.metadata.version("acro")
        with _quiet():
            self._acro = acro.ACRO(suppress=False)
            # SDCChecks and table models hold a reference to this same dict.
            self._acro.config.update(rules.as_acro_config())

    def check_table(
        self, data: pd.DataFrame, by: list[str], value: str, aggfunc: str
    ) -> AcroVerdict:
        """ACRO's cell verdicts for pivot_table(data, values=value, index=by, aggfunc=aggfunc)."""
        with _quiet():
            self._acro.pivot_table(
                data, values=value, index=by if len(by) > 1 else by[0], aggfunc=aggfunc
            )
        record = list(self._acro.results.results.values())[-1]
        outcome = record.outcome
        column = outcome.columns[0]
        labels = outcome[column].astype(str)
        flags = pd.DataFrame(
            {ours: labels.str.contains(theirs, regex=False) for theirs, ours in ACRO_RULES.items()},
            index=outcome.index,
        )
        if len(by) == 1:
            flags.index.name = by[0]
        return AcroVerdict(
            flags=flags, status=str(record.status), summary=str(record.summary).strip()
        )
