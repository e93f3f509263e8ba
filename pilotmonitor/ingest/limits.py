"""Parsing limits: how large a delivered file may be, in one place.

Every reader of a raw landing file checks these limits before and while it decompresses
or parses, so a file over a limit fails (or its member is quarantined) in bounded time and
memory. Each limit can be set by ``PILOTMONITOR_LIMIT_<NAME>`` (e.g.
``PILOTMONITOR_LIMIT_MEMBER_BYTES=500000000``).

Design notes: docs/design/ingest.md#pilotmonitoringestlimitspy.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields, replace

MiB = 1 << 20
ENV_PREFIX = "PILOTMONITOR_LIMIT_"


@dataclass(frozen=True)
class ParseLimits:
    # A delivered file as stored (ZIP, XLSX, CSV): far above any real export (the
    # largest generated iJw archive is 282 KB, a school export 368 KB).
    file_bytes: int = 1024 * MiB
    # A file a reader holds whole (the public sources: DUO, CBS, the product list, read
    # as one text): their real national files are a few MB (generated: 53 KB).
    whole_file_bytes: int = 128 * MiB
    # One ZIP member (an iJw message, a worksheet) uncompressed, declared and as read:
    # three times a real JW323 of a large municipality's big provider (tens of MB, say
    # 40), 1,600 times the largest the generator writes at national scale (81 KB).
    member_bytes: int = 128 * MiB
    # All members of one archive together, uncompressed (generated: at most 940 KB for
    # a municipality's month; a real large municipality's month: hundreds of MB).
    archive_bytes: int = 1024 * MiB
    # Uncompressed / compressed size of a member over 1 MiB. Generated iJw members
    # compress at most 25 times, a test declaration repeating one line 78 times; deflate
    # bombs reach 1,000.
    compression_ratio: int = 200
    # Element start tags in one XML member, counted from its bytes as they stream
    # (every '<' that does not open an end tag, comment, PI or CDATA). A real-shaped
    # member has one per 41.5 bytes, so 4 million fit a member at member_bytes; a tree
    # of empty elements that no reader releases costs about 120 bytes an element, so this
    # caps the worst case at about 0.5 GB per reading process.
    elements: int = 4_000_000
    # Longest run of bytes without '<' in an XML member: a text node or a tag with its
    # attributes. iJw values are at most a few hundred characters (Commentaar: 4,000).
    text_bytes: int = 1 * MiB
    # One CSV line (a record may span lines inside quotes; each line is bounded, and
    # Python's csv module refuses a field over 131,072 characters).
    line_chars: int = 1 * MiB
    # The grid of a worksheet from its first to its last cell reference (rows by
    # columns): python-calamine allocates it whole, about 32 bytes a cell.
    cells: int = 10_000_000
    # Members up to this size are parsed as a whole tree and validated in one call
    # (fast, and every product of an invalid message is quarantined); larger ones are
    # validated while streaming and read in parts (memory flat whatever their size).
    whole_tree_bytes: int = 8 * MiB

    # Ratios of members below this size are not checked: a small member cannot be a bomb.
    RATIO_MIN_BYTES = 1 * MiB

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(
                    f"parse limit {f.name} must be a positive whole number, got {value!r}"
                )


DEFAULT_LIMITS = ParseLimits()

# Fixed by libxml2 with huge_tree off (lxml's default, kept): nesting depth and one text
# node. Not settable here; our own text_bytes is lower, iJw messages nest about 8 deep.
XML_MAX_DEPTH = 256
XML_MAX_TEXT_BYTES = 10_000_000


def current_limits() -> ParseLimits:
    """The defaults with any PILOTMONITOR_LIMIT_<NAME> environment variables applied."""
    overrides: dict[str, int] = {}
    for f in fields(ParseLimits):
        variable = ENV_PREFIX + f.name.upper()
        text = os.environ.get(variable)
        if text is None or not text.strip():
            continue
        try:
            overrides[f.name] = int(text.strip().replace("_", ""))
        except ValueError:
            raise ValueError(
                f"{variable} must be a whole number of "
                f"{'bytes' if f.name.endswith('bytes') else 'units'}, got {text!r}"
            ) from None
    return replace(DEFAULT_LIMITS, **overrides) if overrides else DEFAULT_LIMITS


def sizes(actual: int, limit: int) -> tuple[str, str]:
    """Two sizes for a reason, exact when rounding would show them equal."""
    shown = megabytes(actual), megabytes(limit)
    return shown if shown[0] != shown[1] else (f"{actual:,} bytes", f"{limit:,}-byte")


def megabytes(n: int) -> str:
    """A size for a steward: '268 MB', '66 KB', '512 bytes'."""
    if n >= 10**6:
        return f"{n / 1e6:,.0f} MB" if n >= 10**7 else f"{n / 1e6:,.1f} MB"
    if n >= 10**3:
        return f"{n / 1e3:,.0f} KB"
    return f"{n:,} bytes"
