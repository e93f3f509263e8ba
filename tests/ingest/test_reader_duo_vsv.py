"""DUO's public VSV figures (pilotmonitor.ingest.readers.public_data.read_duo_vsv) on
hand-written files in DUO's layout: per site and per municipality, with one bad row per
rule and the structural variations the other DUO readers tolerate."""

from __future__ import annotations

from pathlib import Path

import pytest

from pilotmonitor.ingest.contracts import RAW_TABLES, DeliveryError
from pilotmonitor.ingest.deliveries import describe
from pilotmonitor.ingest.readers.public_data import read_duo_vsv

SITES = """JAAR;BRIN NUMMER;VESTIGINGSNUMMER;VESTIGINGSNAAM;GEMEENTENUMMER;GEMEENTENAAM;ONDERWIJSTYPE;AANTAL DEELNEMERS;AANTAL VSV ERS
2023-2024;99YA;00;VO Groningen (synthetisch);0014;Groningen;VO;1.204;17
2023-2024;99YB;0;PrO Groningen (synthetisch);14;Groningen;Praktijkonderwijs;210;6
2023/2024;99YC;00;VSO Groningen (synthetisch);GM0014;Groningen;VSO;150;4
2023-2024;99YD;00;VO Assen (synthetisch);0106;Assen;havo;300;0
2022-2023;99YE;00;VO Emmen (synthetisch);0114;Emmen;VO;300;3
2023-2025;99YF;00;VO Meppel (synthetisch);0119;Meppel;VO;300;3
2023-2024;9YG;00;VO Hoogeveen (synthetisch);0118;Hoogeveen;VO;300;3
2023-2024;99YH;00;VO Coevorden (synthetisch);0109;Coevorden;VO;30;31
2023-2024;99YJ;00;VO Drachten (synthetisch);0090;Drachten;VO;300;-1
2023-2024;99YK;00;VO Veendam (synthetisch);0047;Veendam;Basisonderwijs;300;2
2023-2024;99YA;00;VO Groningen (synthetisch);0014;Groningen;VO;1.204;17
2023-2024;99YL;00;VO Leeuwarden (synthetisch);0080;Leeuwarden;VO;;2
"""  # noqa: E501
MUNICIPALITIES = """\ufeffJAAR;GEMEENTENUMMER;GEMEENTENAAM;AANTAL DEELNEMERS;AANTAL VSV ERS;
2023-2024;0014;Groningen;5012;61;
2023-2024;106;Assen;1800;12;
2023-2024;0106;Assen;1800;13;
;;;;;
"""


def land(tmp_path: Path, relative: str, content: str):
    path = tmp_path / "landing" / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content, encoding="utf-8")
    return path, describe(tmp_path / "landing", path)


def test_sites_load_and_every_rule_quarantines_its_row(tmp_path: Path):
    path, delivery = land(tmp_path, "public/duo/duo_vsv_vestigingen_2023_20250201.csv", SITES)
    assert (delivery.source, delivery.sender, delivery.period) == ("duo_vsv", "vestigingen", "2023")
    result = read_duo_vsv(path, delivery)
    result.check_accounting()
    rows = result.tables["duo_vsv"]
    assert list(rows.columns) == ["row_locator", *RAW_TABLES["duo_vsv"]]
    assert rows[
        ["school_id", "municipality_code", "school_type", "participants", "early_leavers"]
    ].values.tolist() == [
        ["99YA00", "GM0014", "VO", 1204, 17],
        ["99YB00", "GM0014", "PRO", 210, 6],
        ["99YC00", "GM0014", "VSO", 150, 4],
        ["99YD00", "GM0106", "VO", 300, 0],
    ]
    assert set(rows.level) == {"school"} and set(rows.convenant_year) == {2023}
    got = dict(zip(result.quarantine.row_locator, result.quarantine.reason_code))
    assert got == {
        "5": "invalid_code",
        "6": "invalid_code",
        "7": "invalid_code",
        "8": "invalid_number",
        "9": "invalid_number",
        "10": "invalid_code",
        "11": "duplicate_row",
        "12": "missing_field",
    }
    reasons = dict(zip(result.quarantine.row_locator, result.quarantine.reason))
    assert "not the year of the file name (2023)" in reasons["5"]
    assert "not a convenantjaar" in reasons["6"]
    assert "larger than AANTAL DEELNEMERS" in reasons["8"]


def test_municipalities_by_residence_with_trailing_delimiters_and_a_conflict(tmp_path: Path):
    path, delivery = land(
        tmp_path, "public/duo/duo_vsv_gemeenten_2023_20250201.csv", MUNICIPALITIES
    )
    result = read_duo_vsv(path, delivery)
    result.check_accounting()
    rows = result.tables["duo_vsv"]
    assert rows[["level", "municipality_code", "school_id", "early_leavers"]].values.tolist() == [
        ["municipality", "GM0014", None, 61]
    ]
    # Assen twice with different counts: neither can be trusted.
    assert result.quarantine.reason.str.contains("conflicting rows").sum() == 2


def test_a_file_without_the_count_columns_is_refused(tmp_path: Path):
    path, delivery = land(
        tmp_path,
        "public/duo/duo_vsv_gemeenten_2023_20250201.csv",
        "JAAR;GEMEENTENUMMER;GEMEENTENAAM\n2023-2024;0014;Groningen\n",
    )
    with pytest.raises(DeliveryError, match="AANTAL DEELNEMERS"):
        read_duo_vsv(path, delivery)


def test_an_empty_publication_loads_nothing(tmp_path: Path):
    path, delivery = land(
        tmp_path, "public/duo/duo_vsv_vestigingen_2023_20250201.csv", SITES.splitlines()[0] + "\n"
    )
    result = read_duo_vsv(path, delivery)
    assert result.rows_read == 0 and result.tables["duo_vsv"].empty
