"""Reading a delivered file within the parsing limits (limits.ParseLimits).

Sizes and compression ratios are checked before decompressing, so a bomb is refused
without inflating a byte of it; while reading, ``BoundedStream`` counts what passes through
and raises ``LimitExceeded``. Reasons name the member, the measured size or count and the
limit; never content.

Design notes: docs/design/ingest.md#pilotmonitoringestboundedpy.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import IO

from pilotmonitor.ingest.limits import ParseLimits, megabytes, sizes

READ_CAP = 1 << 20  # largest block handed out per read(), whatever size was asked for


class LimitExceeded(Exception):
    """A file or member over a parsing limit; the message is the reason for a steward."""

    def __init__(self, reason: str, limit: str):
        super().__init__(reason)
        self.reason = reason
        self.limit = limit  # the ParseLimits field


def file_problem(path: Path, limits: ParseLimits, *, whole: bool = False) -> LimitExceeded | None:
    """A file over its size limit; ``whole`` for a reader that holds the file in memory."""
    actual = Path(path).stat().st_size
    limit, name = (
        (limits.whole_file_bytes, "whole_file_bytes")
        if whole
        else (limits.file_bytes, "file_bytes")
    )
    if actual > limit:
        size, allowed = sizes(actual, limit)
        what = "a file read whole" if whole else "one file"
        return LimitExceeded(f"file size {size} over the {allowed} limit for {what}", name)
    return None


def member_problem(info: zipfile.ZipInfo, limits: ParseLimits) -> LimitExceeded | None:
    """A member over a limit by its directory entry alone (declared sizes)."""
    if info.file_size > limits.member_bytes:
        size, allowed = sizes(info.file_size, limits.member_bytes)
        return LimitExceeded(
            f"member {info.filename}: uncompressed size {size} over the {allowed} limit for one "
            "member",
            "member_bytes",
        )
    if (
        info.file_size >= ParseLimits.RATIO_MIN_BYTES
        and info.file_size > limits.compression_ratio * max(info.compress_size, 1)
    ):
        ratio = info.file_size / max(info.compress_size, 1)
        return LimitExceeded(
            f"member {info.filename}: compression ratio {ratio:,.0f} to 1 "
            f"({megabytes(info.compress_size)} expanding to {megabytes(info.file_size)}) over "
            f"the limit of {limits.compression_ratio} to 1",
            "compression_ratio",
        )
    return None


def archive_problem(infos: list[zipfile.ZipInfo], limits: ParseLimits) -> LimitExceeded | None:
    """The archive as a whole: all members together, uncompressed (declared)."""
    total = sum(info.file_size for info in infos)
    if total > limits.archive_bytes:
        size, allowed = sizes(total, limits.archive_bytes)
        return LimitExceeded(
            f"{len(infos)} members expand to {size} in all, over the {allowed} limit for one "
            "archive",
            "archive_bytes",
        )
    return None


class BoundedStream:
    """A binary stream that raises LimitExceeded once what it passed on crosses a limit.

    ``xml`` adds the element and text-run counts. ``what`` names the stream in reasons
    ("member JW323_1.xml").
    """

    def __init__(
        self, stream: IO[bytes], what: str, limits: ParseLimits, max_bytes: int, *, xml: bool = True
    ):
        self._stream = stream
        self._what = what
        self._limits = limits
        self._max_bytes = max_bytes
        self._xml = xml
        self.bytes = 0
        self.elements = 0
        self._run = 0  # bytes since the last '<'

    def read(self, size: int = -1) -> bytes:
        data = self._stream.read(READ_CAP if size is None or size < 0 or size > READ_CAP else size)
        self.bytes += len(data)
        if self.bytes > self._max_bytes:
            raise LimitExceeded(
                f"{self._what}: uncompressed size over the {megabytes(self._max_bytes)} limit "
                f"(stopped after reading {megabytes(self.bytes)})",
                "member_bytes",
            )
        if self._xml and data:
            self._count(data)
        return data

    def _count(self, data: bytes) -> None:
        # Every element has a start tag '<name' (or '<name/>'); end tags, comments,
        # processing instructions, CDATA and the doctype start with '</', '<!', '<?'.
        # '<' inside CDATA counts too: an upper bound, never an underestimate.
        opened = data.count(b"<")
        self.elements += opened - data.count(b"</") - data.count(b"<!") - data.count(b"<?")
        if self.elements > self._limits.elements:
            raise LimitExceeded(
                f"{self._what}: more than {self._limits.elements:,} elements (the limit for one "
                "member)",
                "elements",
            )
        limit = self._limits.text_bytes
        first = data.find(b"<")
        if first < 0:
            self._run += len(data)
        else:
            # the run carried over from earlier blocks ends at the first '<'; runs
            # between two '<' of one block can only cross a limit below the block size
            longest = self._run + first
            if limit < len(data):
                longest = max(longest, *map(len, data[first:].split(b"<")))
            self._run = len(data) - data.rfind(b"<") - 1
            self._check_run(longest)
        self._check_run(self._run)

    def _check_run(self, run: int) -> None:
        if run > self._limits.text_bytes:
            raise LimitExceeded(
                f"{self._what}: a text value or tag longer than the "
                f"{megabytes(self._limits.text_bytes)} limit",
                "text_bytes",
            )


# lxml parser options for delivered XML: no entity expansion, no network, no DTD loading,
# and libxml2's own caps kept (huge_tree off: depth 256, one text node 10,000,000 bytes).
SAFE_XML_OPTIONS: dict[str, object] = {
    "resolve_entities": False,
    "no_network": True,
    "load_dtd": False,
    "huge_tree": False,
    "remove_comments": True,
    "remove_pis": True,
}


def release_element(element) -> None:
    """Free a processed element and the already processed siblings before it, so an
    iterparse tree stays small whatever the document's size."""
    element.clear(keep_tail=False)
    parent = element.getparent()
    if parent is not None:
        while element.getprevious() is not None:
            del parent[0]
