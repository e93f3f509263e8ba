"""A release: one set of outputs leaving the warehouse, checked together, one log."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from pilotmonitor.spreadsheet_safety import neutralise_frame

from . import log
from .acro_bridge import AcroSession
from .figures import check_figure
from .frequency import check_frequency
from .magnitude import check_magnitude, validate_aggfunc
from .models import PROVENANCE_DIGESTS, check_model
from .outcome import FAIL, CheckedOutput, DisclosureError, check, worst
from .rules import DisclosureRules

SUPPRESSED_MARK = "x"  # CBS convention for a cell withheld for confidentiality


def display_table(output: CheckedOutput, mark: str = SUPPRESSED_MARK) -> pd.DataFrame:
    """The released table with suppressed cells shown as `mark` (for reports and CSVs)."""
    if output.table is None:
        raise ValueError(f"{output.name} has no table")
    shown = output.table.copy()
    for column in output.table.attrs.get("integer_columns", []):  # counts made float by NaN
        shown[column] = shown[column].astype("Int64")
    shown = shown.astype(object)
    return (
        shown.mask(output.suppressed.to_numpy(), mark) if output.suppressed is not None else shown
    )


class Release:
    """Check outputs with `frequency`, `magnitude`, `model` and `figure`; then `write_log()`."""

    def __init__(self, name: str, out_dir: Path, rules: DisclosureRules | None = None):
        self.name = name
        self.out_dir = Path(out_dir)
        self.rules = rules or DisclosureRules.from_acro()
        self.created_at = datetime.now(UTC).isoformat(timespec="seconds")
        self.outputs: dict[str, CheckedOutput] = {}
        self._acro: AcroSession | None = None
        self._acro_error: str | None = None

    # -- outputs -----------------------------------------------------------------
    def frequency(
        self,
        name: str,
        table: pd.DataFrame,
        count_column: str,
        derived=(),
        extra_counts=(),
        labels=(),
    ) -> CheckedOutput:
        return self._add(
            check_frequency(
                self._free(name),
                table,
                count_column,
                self.rules,
                derived=list(derived),
                extra_counts=list(extra_counts),
                labels=list(labels),
            )
        )

    def magnitude(
        self, name: str, micro: pd.DataFrame, by, value: str, contributor: str, aggfunc: str = "sum"
    ) -> CheckedOutput:
        self._free(name)
        try:
            validate_aggfunc(aggfunc)
        except DisclosureError as error:
            # Logged before raising, so the attempt is visible to the output checker.
            self._add(
                CheckedOutput(
                    name,
                    "magnitude",
                    FAIL,
                    [str(error)],
                    [check("forbidden_statistic", "sum or mean only", 0, 1, FAIL, str(error))],
                )
            )
            raise
        return self._add(
            check_magnitude(
                name, micro, by, value, contributor, aggfunc, self.rules, self._acro_session()
            )
        )

    def model(self, name: str, estimates, provenance_columns=PROVENANCE_DIGESTS) -> CheckedOutput:
        return self._add(
            check_model(self._free(name), estimates, self.rules, tuple(provenance_columns))
        )

    def figure(self, name: str, sources: list, path: Path | None = None) -> CheckedOutput:
        return self._add(
            check_figure(
                self._free(name), list(sources), path, self.outputs, self.rules.blocked_extensions
            )
        )

    def export(
        self, output: CheckedOutput, filename: str | None = None, mark: str = SUPPRESSED_MARK
    ) -> Path:
        """Write a checked table as CSV in out_dir (suppressed cells as `mark`); refuses failed
        outputs."""
        if self.outputs.get(output.name) is not output:
            raise DisclosureError(f"{output.name} was not checked in release {self.name}")
        if output.status == FAIL:
            raise DisclosureError(
                f"{output.name} failed disclosure control and cannot be exported: "
                f"{'; '.join(output.reasons)}"
            )
        self.out_dir.mkdir(parents=True, exist_ok=True)
        path = self.out_dir / (filename or f"{output.name}.csv")
        safe, _ = neutralise_frame(display_table(output, mark))
        safe.to_csv(path, index=False)
        output.path = path
        return path

    # -- state and log -----------------------------------------------------------
    @property
    def status(self) -> str:
        return worst(o.status for o in self.outputs.values())

    def to_log(self) -> dict:
        return {
            "release": self.name,
            "created_at": self.created_at,
            "logged_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "status": self.status,
            "status_meaning": {
                "pass": "nothing flagged",
                "review": "cells suppressed or a human judgement needed; safe only as released",
                "fail": (
                    "some outputs must not be released: a report withholds them and says why (see "
                    "each output's status)"
                ),
            },
            "rules": self.rules.to_dict(),
            "acro": {
                "version": self._acro.version if self._acro else None,
                "error": self._acro_error,
            },
            "suppressed_mark": SUPPRESSED_MARK,
            "outputs": [o.to_log() for o in self.outputs.values()],
        }

    def write_log(self) -> Path:
        """Write disclosure_log.json (+ .md and checks .csv) to out_dir; returns the JSON path."""
        self.out_dir.mkdir(parents=True, exist_ok=True)
        document = self.to_log()
        log.write_markdown(document, self.out_dir)
        log.write_csv(document, self.out_dir)
        return log.write_json(document, self.out_dir)

    # -- internals ---------------------------------------------------------------
    def _free(self, name: str) -> str:
        if name in self.outputs:
            raise ValueError(f"release {self.name} already has an output named {name!r}")
        return name

    def _add(self, output: CheckedOutput) -> CheckedOutput:
        self.outputs[output.name] = output
        return output

    def _acro_session(self) -> AcroSession | None:
        if not self.rules.acro_crosscheck or self._acro_error:
            return None
        if self._acro is None:
            try:
                self._acro = AcroSession(self.rules)
            except ImportError as error:  # our own rules still apply; the log says ACRO was missing
                self._acro_error = f"ACRO unavailable: {error}"
                return None
        return self._acro
