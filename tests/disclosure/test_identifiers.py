"""Every output is scanned for identifiers; a hit fails it."""

import pandas as pd
import pytest

from pilotmonitor.disclosure import Release
from pilotmonitor.disclosure.identifiers import identifying_column, scan


def counts(**extra):
    return pd.DataFrame({"school": ["A", "B"], "pupils": [25, 30], **extra})


@pytest.mark.parametrize(
    "column",
    [
        "pupil_pseudonym",
        "leerling_pseudonym",
        "client_pseudonym",
        "bsn",
        "BSN",
        "onderwijsnummer",
        "leerling_id",
        "pupilId",
        "naam",
        "name",
        "child_name",
        "achternaam",
        "adres",
        "home_address",
        "telefoonnummer",
        "email",
        "geboortedatum",
    ],
)
def test_identifying_column_names(column):
    assert identifying_column(column)


@pytest.mark.parametrize(
    "column",
    [
        "school_name",
        "pilot_name",
        "group",
        "pupils",
        "new_referrals",
        "rate_per_100",
        "gemeente_naam",
        "pc4",
        "birth_month",
        "provider",
    ],
)
def test_ordinary_column_names(column):
    assert not identifying_column(column)


def test_pseudonym_column_fails(release: Release):
    out = release.frequency(
        "with_column", counts(pupil_pseudonym=["a", "b"]), count_column="pupils"
    )
    assert out.status == "fail"
    assert next(c for c in out.checks if c["rule"] == "identifiers")["outcome"] == "fail"


def test_pseudonym_values_fail_whatever_the_column_is_called(release: Release, pseudonymiser):
    values = [
        pseudonymiser.pseudonym("bsn", "999900006"),
        pseudonymiser.pseudonym("bsn", "999900018"),
    ]
    out = release.frequency("with_values", counts(unit=values), count_column="pupils")
    assert out.status == "fail" and any("pseudonym value" in r for r in out.reasons)
    versioned = counts(unit=[f"k1:{v}" for v in values])
    assert scan(versioned) and scan(versioned)[0].kind == "pseudonym value"


def test_pseudonyms_as_index_labels_fail():
    wide = pd.DataFrame({"cost": [1.0]}, index=pd.Index(["f" * 64], name="who"))
    assert any("as a label" in f.kind for f in scan(wide))


def test_bsn_and_full_postcode_values_fail():
    assert {f.kind for f in scan(counts(code=["999900006", "1234 AB"]))} == {
        "BSN/onderwijsnummer value",
        "full postcode value",
    }
    assert scan(counts(code=["123456789", "1234"])) == []  # fails the 11-check; PC4 is allowed


def test_figure_and_magnitude_outputs_are_scanned_too(release: Release):
    micro = pd.DataFrame(
        {"naam": ["x"] * 20, "pupil_pseudonym": [str(i) for i in range(20)], "cost_eur": [1.0] * 20}
    )
    out = release.magnitude(
        "by_name", micro, by=["naam"], value="cost_eur", contributor="pupil_pseudonym"
    )
    assert out.status == "fail"
