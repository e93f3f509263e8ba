"""Pseudonymisation: keyed, stable, version-tagged, and refusing to run without a key."""

import pandas as pd
import pytest

from pilotmonitor.ingest.pseudonymise import (
    Pseudonymiser,
    PseudonymKey,
    PseudonymKeyError,
    demo_key_path,
    load_key,
)
from pilotmonitor.settings import REPO_ROOT

KEY_A = PseudonymKey("k1", bytes(range(32)))
KEY_B = PseudonymKey("k2", bytes(range(1, 33)))
VALID_BSN = "999964392"  # in the official test range
VALID_ONDERWIJSNUMMER = "108329477"


def test_same_number_same_pseudonym_and_leading_zeros_normalised():
    p = Pseudonymiser(KEY_A)
    out = p.pseudonymise(pd.Series([VALID_BSN, f" {VALID_BSN} ", 999964392]))
    assert out.pseudonym.nunique() == 1
    assert (out.error.isna()).all() and (out.key_version == "k1").all()
    # a spreadsheet drops the leading zero
    padded = p.pseudonymise(pd.Series(["12345682", "012345682"]))
    assert padded.pseudonym.iloc[0] == padded.pseudonym.iloc[1]


def test_pseudonym_is_keyed_not_a_plain_hash():
    import hashlib

    a = Pseudonymiser(KEY_A).pseudonymise(pd.Series([VALID_BSN])).pseudonym.iloc[0]
    b = Pseudonymiser(KEY_B).pseudonymise(pd.Series([VALID_BSN])).pseudonym.iloc[0]
    assert a != b
    assert a not in {
        hashlib.sha256(VALID_BSN.encode()).hexdigest(),
        hashlib.sha256(f"bsn:{VALID_BSN}".encode()).hexdigest(),
    }
    assert VALID_BSN not in a


def test_bsn_and_onderwijsnummer_are_validated():
    out = Pseudonymiser(KEY_A).pseudonymise(
        pd.Series([VALID_BSN, "999964393", "000000000", "999999999", "", "12a456789", None]),
        pd.Series([None, None, None, None, VALID_ONDERWIJSNUMMER, None, "108329478"]),
    )
    assert out.error.tolist() == [
        None,
        "invalid_bsn",
        "reserved_bsn",
        "reserved_bsn",
        None,
        "malformed_identifier",
        "invalid_onderwijsnummer",
    ]
    assert out.id_kind.tolist()[4] == "onderwijsnummer"
    assert out.pseudonym.notna().all()  # even a bad number gets a keyed pseudonym, never stored raw


def test_missing_identifier():
    out = Pseudonymiser(KEY_A).pseudonymise(pd.Series(["", None]), pd.Series([None, " "]))
    assert out.error.tolist() == ["missing_identifier", "missing_identifier"]
    assert out.pseudonym.isna().all()


def test_refuses_to_run_without_a_key(tmp_path):
    with pytest.raises(PseudonymKeyError, match="no pseudonymisation key"):
        load_key(tmp_path, demo=False, environ={})


# Random keys (secrets.token_hex(32)), fixed here so the tests are deterministic.
RANDOM_HEX_A = "5be1c3f0e0a1d27f94b3c86a0d2e4f7718c9b2a5e63d0f41a87c2b9e5d106f3a"
RANDOM_HEX_B = "c0ffd4e29a3b71568f0e2dc4b7a9136e58f2a0c4d19b7e63a5c8f01d2e4b7a96"


def test_key_from_environment_and_file(tmp_path):
    key = load_key(
        tmp_path,
        environ={
            "PILOTMONITOR_PSEUDONYM_KEY": RANDOM_HEX_A,
            "PILOTMONITOR_PSEUDONYM_KEY_VERSION": "2026a",
        },
    )
    assert key.version == "2026a" and key.secret == bytes.fromhex(RANDOM_HEX_A)
    key_file = tmp_path / "outside" / "pm.key"
    key_file.parent.mkdir()
    key_file.write_text(RANDOM_HEX_B)
    assert load_key(
        tmp_path, environ={"PILOTMONITOR_PSEUDONYM_KEY_FILE": str(key_file)}
    ).secret == bytes.fromhex(RANDOM_HEX_B)
    with pytest.raises(PseudonymKeyError, match="at least 32 bytes"):
        load_key(tmp_path, environ={"PILOTMONITOR_PSEUDONYM_KEY": RANDOM_HEX_A[:16]})


@pytest.mark.parametrize(
    "weak",
    [
        "00" * 32,
        "ab" * 32,
        "deadbeef" * 8,
        bytes(range(32)).hex(),
        bytes(range(100, 164, 2)).hex(),
        ("0123456789abcdef" * 2).encode().hex(),
        b"correct horse battery staple!!!!".hex(),
    ],
)
def test_weak_keys_are_refused_from_environment_and_file(tmp_path, weak):
    with pytest.raises(PseudonymKeyError, match="weak"):
        load_key(tmp_path, environ={"PILOTMONITOR_PSEUDONYM_KEY": weak})
    key_file = tmp_path / "pm.key"
    key_file.write_text(weak)
    with pytest.raises(PseudonymKeyError, match="weak") as raised:
        load_key(tmp_path, environ={"PILOTMONITOR_PSEUDONYM_KEY_FILE": str(key_file)})
    assert weak not in str(raised.value)  # the error never echoes the key


def test_random_keys_are_accepted():
    import secrets

    from pilotmonitor.ingest.pseudonymise import _refuse_weak

    for _ in range(2000):  # a blocking check must never fail on a valid key
        secret = secrets.token_bytes(32)
        assert _refuse_weak(secret, "test") == secret


def test_key_file_inside_the_repository_is_refused(tmp_path):
    inside = REPO_ROOT / "pilots" / "winschoten-sbo.yml"
    with pytest.raises(PseudonymKeyError, match="inside the repository"):
        load_key(tmp_path, environ={"PILOTMONITOR_PSEUDONYM_KEY_FILE": str(inside)})


def test_demo_mode_creates_a_local_key_once(tmp_path):
    first = load_key(tmp_path, demo=True, environ={})
    second = load_key(tmp_path, demo=True, environ={})
    assert first.version == "demo" and first.secret == second.secret
    assert demo_key_path(tmp_path).is_file()


def test_key_never_in_repr():
    secret_hex = KEY_A.secret.hex()
    assert secret_hex not in repr(KEY_A) and secret_hex not in repr(Pseudonymiser(KEY_A))
    assert str(KEY_A.secret) not in repr(KEY_A)


def test_remembered_records_stay_in_the_process_and_are_bounded(monkeypatch):
    """Readers share a process-wide cache of identified records across files; a copy sent
    to a worker process starts empty, and a full cache is emptied, not grown."""
    import pickle

    p = Pseudonymiser(KEY_A)
    p.remembered()[("999964392", "")] = p.identify(VALID_BSN)
    copy = pickle.loads(pickle.dumps(p))
    assert copy.remembered() == {} and copy.identify(VALID_BSN) == p.identify(VALID_BSN)
    # each purpose has its own records: the iJw reader's Bsn texts never answer for the
    # tabular readers' identifier pairs (they are identified differently) or the reverse
    p.remembered("ijw_bsn")["999964392"] = p.identify(VALID_BSN)
    assert ("999964392", "") in p.remembered() and "999964392" not in p.remembered()
    assert ("999964392", "") not in p.remembered("ijw_bsn")
    monkeypatch.setattr(Pseudonymiser, "REMEMBERED", 2)
    for purpose in ("records", "ijw_bsn"):
        sizes = []
        for i in range(10):  # a file adds its records between two calls
            p.remembered(purpose)[(str(i), "")] = None
            sizes.append(len(p.remembered(purpose)))
        assert max(sizes) <= 3
