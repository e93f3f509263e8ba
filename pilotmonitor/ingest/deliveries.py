"""Recognise a delivered file: which source, sender, period and delivery date.

The file-name convention is the agreement with the senders (documented in the README),
e.g. ``ijw/GM<code>/GM<code>_ijw_<YYYY-MM>_<YYYYMMDD>.zip``. A file that matches no pattern
is registered as failed with that reason, never silently ignored.

Design notes: docs/design/ingest.md#pilotmonitoringestdeliveriespy.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import stat
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

COPY = r"(?: \(\d+\))?"
DATE = r"(?P<delivered>\d{8})"
PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    (
        "school_enrolments",
        re.compile(
            rf"^schools/(?P<dir>[0-9]{{2}}[A-Z]{{2}}[0-9]{{2}})/(?P<sender>[0-9]{{2}}[A-Z]{{2}}[0-9]{{2}})_inschrijvingen_(?P<period>\d{{4}}-\d{{4}})_{DATE}{COPY}\.(?:csv|xlsx)$",
            re.I,
        ),
    ),
    (
        "school_absence",
        re.compile(
            rf"^schools/(?P<dir>[0-9]{{2}}[A-Z]{{2}}[0-9]{{2}})/(?P<sender>[0-9]{{2}}[A-Z]{{2}}[0-9]{{2}})_verzuim_(?P<period>\d{{4}}-\d{{4}})_{DATE}{COPY}\.(?:csv|xlsx)$",
            re.I,
        ),
    ),
    (
        "ijw_messages",
        re.compile(
            rf"^ijw/(?P<dir>GM\d{{4}})/(?P<sender>GM\d{{4}})_ijw_(?P<period>\d{{4}}-\d{{2}})_{DATE}{COPY}\.zip$",
            re.I,
        ),
    ),
    (
        "ijw_extracts",
        re.compile(
            rf"^ijw/(?P<dir>GM\d{{4}})/(?P<sender>GM\d{{4}})_jeugdhulp_extract_(?P<period>\d{{4}}-\d{{2}})_{DATE}{COPY}\.csv$",
            re.I,
        ),
    ),
    (
        "product_list",
        re.compile(rf"^reference/productcodelijst_(?P<sender>[a-z]+)_{DATE}{COPY}\.csv$", re.I),
    ),
    (
        "duo_schools",
        re.compile(rf"^public/duo/duo_vestigingen_(?P<sender>po)_{DATE}{COPY}\.csv$", re.I),
    ),
    (
        "duo_pupil_counts",
        re.compile(
            rf"^public/duo/duo_leerlingen_(?P<sender>po)_leeftijd_(?P<period>\d{{4}})_{DATE}{COPY}\.csv$",
            re.I,
        ),
    ),
    (
        "duo_vsv",
        re.compile(
            rf"^public/duo/duo_vsv_(?P<sender>vestigingen|gemeenten)_(?P<period>\d{{4}})_{DATE}{COPY}\.csv$",
            re.I,
        ),
    ),
    (
        "leerplicht_register",
        re.compile(
            rf"^leerplicht/(?P<dir>GM\d{{4}})/(?P<sender>GM\d{{4}})_leerplicht_(?P<period>\d{{4}}-\d{{4}})_{DATE}{COPY}\.(?:csv|xlsx)$",
            re.I,
        ),
    ),
    (
        "cbs_youth_care",
        re.compile(rf"^public/cbs/(?P<sender>\d{{5}}NED)_TypedDataSet_{DATE}{COPY}\.json$", re.I),
    ),
    (
        "pilot_activity",
        re.compile(
            rf"^pilots/(?P<dir>[a-z0-9-]+)/(?P<sender>[a-z0-9-]+)_activiteiten_(?P<period>\d{{4}}-\d{{4}})_{DATE}{COPY}\.(?:csv|xlsx)$",
            re.I,
        ),
    ),
    (
        "pilot_costs",
        re.compile(
            rf"^pilots/(?P<dir>[a-z0-9-]+)/(?P<sender>[a-z0-9-]+)_kosten_{DATE}{COPY}\.csv$", re.I
        ),
    ),
    (
        "survey_responses",
        re.compile(
            rf"^surveys/vragenlijst_(?P<sender>ouders|leerkrachten|leerlingen)_(?P<period>\d{{4}}-\d{{4}})_{DATE}{COPY}\.csv$",
            re.I,
        ),
    ),
]
NOT_DELIVERIES = {"SYNTHETIC_DATA.txt", ".DS_Store", "Thumbs.db"}


class UnrecognisedDelivery(ValueError):
    pass


@dataclass(frozen=True)
class Delivery:
    path: str  # relative to the landing directory, POSIX separators
    source: str
    sender: str
    period: str  # "" where the source has no period (the snapshot is the period)
    delivered_on: date
    sha256: str
    size_bytes: int

    @property
    def delivery_id(self) -> str:
        """The same bytes for the same slot are the same delivery, whatever the file name.
        Identical bytes from another sender or period (two empty monthly archives, say)
        are different deliveries."""
        key = f"{self.source}/{self.sender}/{self.period}/{self.sha256}"
        return hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]

    @property
    def slot(self) -> tuple[str, str, str]:
        """Deliveries for the same slot supersede each other (latest delivery date wins)."""
        return (self.source, self.sender, self.period)


def sha256_of(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def recognise(relative: str) -> tuple[str, dict[str, str]]:
    for source, pattern in PATTERNS:
        match = pattern.match(relative)
        if match:
            parts = match.groupdict()
            if parts.get("dir") and parts["dir"].upper() != parts["sender"].upper():
                raise UnrecognisedDelivery(
                    f"{relative}: file of sender {parts['sender']} in the folder of {parts['dir']}"
                )
            return source, parts
    raise UnrecognisedDelivery(
        f"{relative}: file name does not follow the delivery naming convention"
    )


def parse_name(relative: str) -> tuple[str, str, str, date]:
    """Source, sender, period and delivery date from a file name alone (no file I/O);
    raises UnrecognisedDelivery for a name that follows no convention."""
    source, parts = recognise(relative)
    try:
        delivered = _delivery_date(parts["delivered"])
    except ValueError:
        raise UnrecognisedDelivery(
            f"{relative}: delivery date {parts['delivered']} does not exist"
        ) from None
    sender = (
        parts["sender"].upper() if source.startswith(("school", "ijw")) else parts["sender"].lower()
    )
    return source, sender, parts.get("period") or "", delivered


@functools.lru_cache(maxsize=4096)
def _delivery_date(text: str) -> date:
    """A YYYYMMDD delivery date (cached: thousands of files share a delivery date, and
    strptime was a third of checking the names of a landing area)."""
    return datetime.strptime(text, "%Y%m%d").date()


def file_signature(path: Path) -> str:
    """Size, modification time, change time and inode: a file whose signature is unchanged
    has unchanged content (the change time cannot be set back by a user, and a file
    written in place or replaced changes it), so its hash need not be computed again.
    A monthly run over 180k files then reads only the new ones."""
    return signature_of(path.stat())


def signature_of(info: os.stat_result) -> str:
    """file_signature from a stat result the caller already has."""
    return f"{info.st_size}:{info.st_mtime_ns}:{info.st_ctime_ns}:{info.st_ino}"


KnownHashes = Mapping[str, tuple[str, str]]  # relative path -> (file_signature, sha256)


def content_hash(
    path: Path, relative: str, known: KnownHashes | None = None, signature: str | None = None
) -> str:
    """The file's SHA-256, taken from ``known`` while its signature (``signature``, if the
    caller has it) is unchanged."""
    if known:
        previous, sha256 = known.get(relative, (None, None))
        if previous is not None and previous == (signature or file_signature(path)):
            return sha256
    return sha256_of(path)


def describe(landing_dir: Path, path: Path, known: KnownHashes | None = None) -> Delivery:
    """Delivery attributes of one file; raises UnrecognisedDelivery for a foreign name."""
    relative = path.relative_to(landing_dir).as_posix()
    source, sender, period, delivered = parse_name(relative)
    return Delivery(
        relative,
        source,
        sender,
        period,
        delivered,
        content_hash(path, relative, known),
        path.stat().st_size,
    )


def _counts(name: str) -> bool:
    return name not in NOT_DELIVERIES and not name.startswith(".")


def landing_entries(landing_dir: Path) -> Iterator[tuple[Path, str | None]]:
    """Every entry of the landing area: (path, None) for a regular file, (path, reason) for
    one that is refused. The landing area is a boundary: a symbolic link could point at
    any file on the machine (or a folder outside), and a FIFO or device would block or
    never end, so neither is ever opened or followed."""
    for root, folders, names in os.walk(landing_dir, followlinks=False):
        for name in folders:
            if os.path.islink(os.path.join(root, name)) and _counts(name):
                yield (
                    Path(root, name),
                    "is a symbolic link to a folder: the landing area accepts only regular files "
                    "and folders",
                )
        for name in names:
            if not _counts(name):
                continue
            path = Path(root, name)
            mode = os.lstat(path).st_mode
            if stat.S_ISLNK(mode):
                yield (
                    path,
                    "is a symbolic link: the landing area accepts only regular files (deliver the "
                    "file itself)",
                )
            elif not stat.S_ISREG(mode):
                yield path, "is not a regular file (a FIFO, socket or device): it is never opened"
            else:
                yield path, None


def landing_files(landing_dir: Path) -> list[Path]:
    """The regular files of the landing area (symbolic links and special files excluded)."""
    return sorted(
        (path for path, refused in landing_entries(landing_dir) if refused is None), key=path_order
    )


def path_order(path: Path) -> tuple[str, ...]:
    """Sort key giving the order paths sort in: their parts, compared as tuples of strings
    rather than as path objects (a third of a second per 67,000 files)."""
    return path.parts


# The folder of the landing area each source's names start in (schools, ijw, public, ...).
SOURCE_FOLDERS = {source: pattern.pattern[1:].split("/", 1)[0] for source, pattern in PATTERNS}


def source_files(landing_dir: Path, source: str) -> list[Path]:
    """The regular files under the folder a source's names start in: a national landing area
    holds about 180,000 files, and every source walking all of them costs every run (and
    every tick of the landing sensor) thirteen walks instead of one per folder. The folder
    is matched without regard to case, as the names are; a folder that is a symbolic link
    is not followed (landing_entries refuses it)."""
    folder = SOURCE_FOLDERS[source].lower()
    files = []
    if not landing_dir.is_dir():  # no landing area yet: no files, as for a whole-area walk
        return files
    with os.scandir(landing_dir) as entries:
        for entry in entries:
            if entry.name.lower() == folder and entry.is_dir(follow_symlinks=False):
                files += landing_files(Path(entry.path))
    return sorted(files)
