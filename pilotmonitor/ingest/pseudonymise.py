"""Keyed pseudonyms for citizen numbers (BSN) and education numbers (onderwijsnummer).

HMAC-SHA256 under a secret key held outside the warehouse and the repository, carrying
the key version (keys can be rotated). Key: PILOTMONITOR_PSEUDONYM_KEY or
PILOTMONITOR_PSEUDONYM_KEY_FILE; without one the pipeline refuses to run, except in
explicit demo mode. The key never leaves this module.

Design notes: docs/design/ingest.md#pilotmonitoringestpseudonymisepy.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from stdnum.nl import bsn as stdnum_bsn
from stdnum.nl import onderwijsnummer as stdnum_onderwijsnummer

from pilotmonitor.settings import REPO_ROOT

MIN_KEY_BYTES = 32
REFERENCE_HEX_DIGITS = 32  # column_policy.PATTERNS[REFERENCE]
RESERVED_BSNS = {"000000000", "999999999"}
_DIGITS = re.compile(r"^[0-9]{1,9}$")


class PseudonymKeyError(RuntimeError):
    """No usable key: the pipeline must not run."""


@dataclass(frozen=True)
class PseudonymKey:
    version: str
    secret: bytes = field(repr=False)
    source: str = "environment"

    def __post_init__(self) -> None:
        if len(self.secret) < MIN_KEY_BYTES:
            raise PseudonymKeyError(
                f"the pseudonymisation key ({self.source}) must be at least {MIN_KEY_BYTES} bytes"
            )
        if not re.fullmatch(r"[A-Za-z0-9_.-]{1,32}", self.version):
            raise PseudonymKeyError("the key version must be 1-32 letters, digits, '.', '_' or '-'")


def _parse_hex(text: str, source: str) -> bytes:
    try:
        return bytes.fromhex(text.strip())
    except ValueError:
        raise PseudonymKeyError(
            f"the pseudonymisation key in {source} is not hexadecimal"
        ) from None


# a random 32-byte key has about 30 distinct byte values; below 16 happens by chance with
# probability < 1e-9
MIN_DISTINCT_KEY_BYTES = 16


def _secret(text: str, source: str) -> bytes:
    """The key's bytes from its hex text; a weak key is refused (a short one is left to
    PseudonymKey, whose message names the minimum length)."""
    secret = _parse_hex(text, source)
    return _refuse_weak(secret, source) if len(secret) >= MIN_KEY_BYTES else secret


def _refuse_weak(secret: bytes, source: str) -> bytes:
    """A key typed or derived by hand (all one byte, a pattern repeated, a counting sequence,
    a passphrase's text) can be guessed, and with it every pseudonym reversed (there are at
    most 10^9 BSNs to try). Such keys are refused; generate one with `python -c "import
    secrets; print(secrets.token_hex(32))"`. Each rule fails a random key with probability
    below 1e-10 (tested on random keys)."""
    steps = {(b - a) % 256 for a, b in zip(secret, secret[1:])}
    repeats = any(
        secret == (secret[:period] * (len(secret) // period + 1))[: len(secret)]
        for period in range(1, len(secret) // 2 + 1)
    )
    # printable ASCII throughout: a passphrase, not random bytes
    text = all(0x20 <= b < 0x7F for b in secret)
    if len(set(secret)) < MIN_DISTINCT_KEY_BYTES or len(steps) == 1 or repeats or text:
        raise PseudonymKeyError(
            f"the pseudonymisation key ({source}) is weak (repeated bytes, a pattern, a "
            "counting sequence or text): "
            'generate a random one, e.g. python -c "import secrets; print(secrets.token_hex(32))"'
        )
    return secret


def demo_key_path(data_dir: Path) -> Path:
    return data_dir / "keys" / "demo-pseudonym.key"


def load_key(
    data_dir: Path, demo: bool = False, environ: dict[str, str] | None = None
) -> PseudonymKey:
    """The key from the environment or a key file; in demo mode a local demo key."""
    env = os.environ if environ is None else environ
    version = env.get("PILOTMONITOR_PSEUDONYM_KEY_VERSION", "k1")
    if env.get("PILOTMONITOR_PSEUDONYM_KEY"):
        return PseudonymKey(
            version,
            _secret(env["PILOTMONITOR_PSEUDONYM_KEY"], "PILOTMONITOR_PSEUDONYM_KEY"),
            "PILOTMONITOR_PSEUDONYM_KEY",
        )
    if env.get("PILOTMONITOR_PSEUDONYM_KEY_FILE"):
        path = Path(env["PILOTMONITOR_PSEUDONYM_KEY_FILE"]).expanduser().resolve()
        if path.is_relative_to(REPO_ROOT) and not path.is_relative_to(data_dir.resolve()):
            raise PseudonymKeyError(
                f"the key file {path} lies inside the repository: keep keys outside it"
            )
        if not path.is_file():
            raise PseudonymKeyError(f"the key file {path} does not exist")
        return PseudonymKey(
            version, _secret(path.read_text(encoding="ascii"), str(path)), str(path)
        )
    if demo:
        path = demo_key_path(data_dir)
        if not path.is_file():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_hex(MIN_KEY_BYTES), encoding="ascii")
            path.chmod(0o600)
        return PseudonymKey(
            "demo", _parse_hex(path.read_text(encoding="ascii"), str(path)), f"demo key {path}"
        )
    raise PseudonymKeyError(
        "no pseudonymisation key: set PILOTMONITOR_PSEUDONYM_KEY (hex) or "
        "PILOTMONITOR_PSEUDONYM_KEY_FILE, or run in demo mode (PILOTMONITOR_DEMO=1 / "
        "pilotmonitor run --demo) to create a local demo key"
    )


# Outcome codes of identifier validation (None = valid).
INVALID_BSN = "invalid_bsn"
RESERVED_BSN = "reserved_bsn"
INVALID_ONDERWIJSNUMMER = "invalid_onderwijsnummer"
MISSING_IDENTIFIER = "missing_identifier"
MALFORMED_IDENTIFIER = "malformed_identifier"


def normalise(value: object) -> str | None:
    """Digits left-padded to nine (leading zeros get lost in spreadsheets); None if empty.

    Anything else is returned as given (stripped) and classified as malformed: we never
    guess at a number with letters or punctuation in it.
    """
    if value is None or value is pd.NaT or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, (int, np.integer)) or (isinstance(value, float) and value.is_integer()):
        value = str(int(value))  # an XLSX cell holding the number
    text = str(value).strip().replace(" ", "")
    if text == "":
        return None
    return text.zfill(9) if _DIGITS.match(text) else text


def classify_bsn(number: str | None) -> str | None:
    if number is None:
        return MISSING_IDENTIFIER
    if not _DIGITS.match(number) or len(number) != 9:
        return MALFORMED_IDENTIFIER
    if number in RESERVED_BSNS:
        return RESERVED_BSN
    return None if stdnum_bsn.is_valid(number) else INVALID_BSN


def classify_onderwijsnummer(number: str | None) -> str | None:
    if number is None:
        return MISSING_IDENTIFIER
    if not _DIGITS.match(number) or len(number) != 9:
        return MALFORMED_IDENTIFIER
    return None if stdnum_onderwijsnummer.is_valid(number) else INVALID_ONDERWIJSNUMMER


class Pseudonymiser:
    """Validate and pseudonymise identifiers; vectorised over pandas Series."""

    # identified records kept for the next files (a pupil is in every school-year export of
    # the school, a client in every monthly iJw archive of the trajectory, and a reading
    # process gets a sender's files together); in memory only
    REMEMBERED = 500_000

    def __init__(self, key: PseudonymKey):
        self._key = key
        self.key_version = key.version
        self._remembered: dict[str, dict] = {}

    def __getstate__(self) -> dict:  # a worker process starts with nothing remembered
        return {**self.__dict__, "_remembered": {}}

    def remembered(self, purpose: str = "records") -> dict:
        """Readers' cache of identified records by delivered value, one per purpose (the
        tabular readers' identifier pairs, RowChecks.identifiers; the iJw reader's Bsn
        texts), shared by every file this process reads with this key; emptied when full."""
        cache = self._remembered.setdefault(purpose, {})
        if len(cache) > self.REMEMBERED:
            cache.clear()
        return cache

    def __repr__(self) -> str:
        return f"Pseudonymiser(key_version={self.key_version!r})"

    def pseudonym(self, kind: str, number: str) -> str:
        message = f"{kind}:{number}".encode()  # malformed input may hold any character
        return hmac.new(self._key.secret, message, hashlib.sha256).hexdigest()

    def reference(self, value: str | None) -> str | None:
        """Keyed pseudonym of a sender's free-form reference (column_policy.REFERENCE):
        equal references give equal pseudonyms, so they still join; 128 bits are ample
        for uniqueness and halve the storage of a full digest."""
        if value is None:
            return None
        return hmac.new(
            self._key.secret, f"reference:{value}".encode(), hashlib.sha256
        ).hexdigest()[:REFERENCE_HEX_DIGITS]

    def identify(
        self, bsn: object, onderwijsnummer: object = None
    ) -> tuple[str | None, str | None, str, str | None]:
        """(pseudonym, id_kind, key_version, error) of one record's delivered identifiers.

        A delivered BSN is used, otherwise an onderwijsnummer. A record whose identifier is
        invalid still gets the keyed pseudonym of what was delivered (never the raw
        number), so the quarantine can say which record it was without storing it.
        """
        number = normalise(bsn)
        if number is not None:
            return self.pseudonym("bsn", number), "bsn", self.key_version, classify_bsn(number)
        number = normalise(onderwijsnummer)
        if number is not None:
            return (
                self.pseudonym("onderwijsnummer", number),
                "onderwijsnummer",
                self.key_version,
                classify_onderwijsnummer(number),
            )
        return None, None, self.key_version, MISSING_IDENTIFIER

    def identify_many(
        self, bsns: Iterable[object], onderwijsnummers: Iterable[object] | None = None
    ) -> list[tuple[str | None, str | None, str, str | None]]:
        """identify() per record; plain Python, as readers call it per file with a few
        dozen distinct values (pandas would cost more per call than the values do)."""
        if onderwijsnummers is None:
            return [self.identify(b) for b in bsns]
        return [self.identify(b, o) for b, o in zip(bsns, onderwijsnummers, strict=True)]

    def pseudonymise(
        self, bsn: pd.Series, onderwijsnummer: pd.Series | None = None
    ) -> pd.DataFrame:
        """identify() per row as a frame: pseudonym, id_kind, key_version and error (None when
        valid)."""
        records = self.identify_many(
            bsn.tolist(), None if onderwijsnummer is None else onderwijsnummer.tolist()
        )
        return pd.DataFrame(
            records or None,
            columns=["pseudonym", "id_kind", "key_version", "error"],
            index=bsn.index,
            dtype=object,
        )
