"""School types: one list, the dbt seed, read everywhere else."""

import csv

import pytest
from pydantic import ValidationError

from pilotmonitor import school_types as T
from pilotmonitor.ingest.readers.public_data import SCHOOL_TYPES as DUO_LABELS
from pilotmonitor.synth.scenario import SchoolSpec


def test_seed_holds_primary_and_secondary_types_with_special_flags():
    assert T.codes() == ("BAO", "SBO", "SO", "VO", "PRO", "VSO")
    assert T.codes("VO") == ("VO", "PRO", "VSO")
    assert set(T.special_codes()) == {"SBO", "SO", "VSO"}
    # Praktijkonderwijs is regular secondary education, not special education.
    assert "PRO" in T.regular_codes() and not T.school_types()["PRO"].is_special_education


def test_every_consumer_reads_the_seed():
    with T.SCHOOL_TYPE_SEED.open(encoding="utf-8") as handle:
        labels = {row["label_nl"].lower(): row["code"] for row in csv.DictReader(handle)}
    assert {label: DUO_LABELS[label] for label in labels} == labels
    SchoolSpec(brin="99HV", name="x", type="PRO", municipality="GM0118", size=10)
    with pytest.raises(ValidationError):
        SchoolSpec(brin="99HV", name="x", type="MBO", municipality="GM0118", size=10)


def test_a_bad_sector_in_the_seed_is_refused(tmp_path, monkeypatch):
    bad = tmp_path / "school_types.csv"
    bad.write_text(
        "code,label_nl,description_en,sector,is_special_education\nXX,X,x,MBO,false\n",
        encoding="utf-8",
    )
    monkeypatch.setattr(T, "SCHOOL_TYPE_SEED", bad)
    T.school_types.cache_clear()
    try:
        with pytest.raises(ValueError, match="unknown sector"):
            T.school_types()
    finally:
        T.school_types.cache_clear()
