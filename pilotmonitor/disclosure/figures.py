"""Figures: released only when drawn from outputs that were checked in this release.

A figure is as disclosive as the numbers it plots, so it inherits its sources'
verdicts rather than being inspected itself: pass when every source passed or only had
cells suppressed (the plot must show those as gaps), review when a source awaits a
human judgement, fail when a source failed or was never checked. File types ACRO
blocks (blocked_extensions in its config, e.g. .svg, whose text embeds the data) fail.
"""

from __future__ import annotations

from pathlib import Path

from .common import needs_judgement
from .outcome import FAIL, PASS, REVIEW, CheckedOutput, check, finish


def check_figure(
    name: str,
    sources: list,
    path: Path | None,
    known: dict[str, CheckedOutput],
    blocked: tuple[str, ...],
) -> CheckedOutput:
    """`known`: the outputs checked in this release, by name; `blocked`: file extensions."""
    checks, reasons = [], []
    checked = [s for s in sources if isinstance(s, CheckedOutput) and known.get(s.name) is s]
    unchecked = [s for s in sources if not any(s is c for c in checked)]
    names = [s.name if isinstance(s, CheckedOutput) else type(s).__name__ for s in sources]
    failed = [s.name for s in checked if s.status == FAIL]
    judge = [s.name for s in checked if s.status == REVIEW and needs_judgement(s.checks)]

    if not sources:
        checks.append(
            check("sources", "at least one checked source", 0, 0, FAIL, "no sources given")
        )
        reasons.append("figure has no sources: it cannot be checked")
    else:
        bad = len(unchecked) + len(failed)
        checks.append(
            check(
                "sources",
                "all sources checked in this release and not failed",
                len(sources),
                bad,
                FAIL if bad else PASS,
                f"unchecked: {len(unchecked)}; failed: {', '.join(failed) or 'none'}",
            )
        )
        if unchecked:
            reasons.append(
                f"{len(unchecked)} source(s) were not checked in this release (raw data or "
                "another release's output)"
            )
        if failed:
            reasons.append(f"source(s) failed disclosure control: {', '.join(failed)}")
        checks.append(
            check(
                "source_review",
                "no source awaiting judgement",
                len(checked),
                len(judge),
                REVIEW if judge else PASS,
                ", ".join(judge),
            )
        )
        if judge:
            reasons.append(f"source(s) need an output checker's judgement: {', '.join(judge)}")

    if path is not None:
        blocked_ext = Path(path).suffix.lower() in {e.lower() for e in blocked}
        checks.append(
            check(
                "file_type",
                f"not {', '.join(blocked)}",
                1,
                int(blocked_ext),
                FAIL if blocked_ext else PASS,
                Path(path).suffix,
            )
        )
        if blocked_ext:
            reasons.append(
                f"file type {Path(path).suffix} is blocked (ACRO blocked_extensions): it embeds "
                "the plotted data as text"
            )
    return finish(
        name, "figure", checks, reasons, path=None if path is None else Path(path), sources=names
    )
