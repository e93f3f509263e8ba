"""Tests for the iJw 3.2 message renderers (pilotmonitor.synth.ijw_messages)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd
import pytest
from lxml import etree

from pilotmonitor.synth.ijw_messages import (
    in_vendor_style,
    render_jw301,
    render_jw305,
    render_jw307,
    render_jw315,
    render_jw323,
)
from tests.ijw_rows import declaration_line

IJW = "http://www.istandaarden.nl/ijw/3_2/basisschema/schema"
Renderer = Callable[[pd.DataFrame], Iterator[tuple[str, bytes]]]


def _ns(message: str) -> dict[str, str]:
    return {"m": f"http://www.istandaarden.nl/ijw/3_2/{message.lower()}/schema", "ijw": IJW}


def _date(value: str | None) -> pd.Timestamp:
    return pd.Timestamp(value) if value else pd.NaT


def _trajectory(trajectory_id: int, **overrides: object) -> dict[str, object]:
    row: dict[str, object] = {
        "trajectory_id": trajectory_id,
        "bsn": "123456782",
        "birth_date": _date("2012-03-04"),
        "sex": "1",
        "given_name": "Jan Pieter",
        "surname_prefix": "",
        "surname": "Jansen",
        "street": "Hoofdstraat",
        "house_number": 12,
        "postcode": "9671AB",
        "city": "Winschoten",
        "phone": "0597123456",
        "parent_given_name": "Maria",
        "parent_surname": "Jansen",
        "parent_phone": "0612345678",
        "municipality_code": "1895",
        "provider_agb": "87654321",
        "referrer_type": "01",
        "referrer_name": "Gemeente Oldambt",
        "referrer_agb": "",
        "product_category": "45",
        "product_code": "45A01",
        "unit": "04",
        "frequency": "2",
        "volume": 3,
        "provider_reference": f"REF-{trajectory_id}",
        "request_date": _date("2024-01-10"),
        "requested_start": _date("2024-02-01"),
        "requested_end": _date("2024-07-31"),
        "allocation_number": f"{700000 + trajectory_id}",
        "allocation_date": _date("2024-01-20"),
        "allocation_start": _date("2024-02-01"),
        "allocation_end": _date("2024-07-31"),
        "start_date": _date("2024-02-05"),
        "end_date": _date("2024-06-28"),
        "end_reason": "31",
    }
    row.update(overrides)
    return row


@pytest.fixture()
def trajectories() -> pd.DataFrame:
    rows = [
        # Ended trajectory; GP referral with AGB code; names that need XML escaping.
        _trajectory(
            1,
            given_name="Anne & Lotte",
            surname_prefix="van 't",
            surname="O'Neill & Zn",
            street="Korte Achterweg & Zoon 't Laantje",
            referrer_type="02",
            referrer_name="",
            referrer_agb="01234567",
            parent_given_name="Mark <Kees>",
        ),
        # Ongoing trajectory: allocated and started, not ended; open allocation per month.
        _trajectory(
            2,
            sex="2",
            referrer_type="06",
            referrer_name="",
            referrer_agb="",
            frequency="4",
            requested_end=pd.NaT,
            allocation_end=pd.NaT,
            end_date=pd.NaT,
            end_reason=None,
            phone="",
        ),
        # Requested but never allocated (nor started).
        _trajectory(
            3,
            bsn="999999999",
            allocation_number=None,
            allocation_date=pd.NaT,
            allocation_start=pd.NaT,
            allocation_end=pd.NaT,
            start_date=pd.NaT,
            end_date=pd.NaT,
            end_reason=None,
            parent_surname="",
        ),
        # GP referral without AGB code (name instead); BSN that fails the 11-check.
        _trajectory(
            4,
            bsn="000000000",
            sex="0",
            referrer_type="02",
            referrer_name="Huisartsenpraktijk De Linde",
            referrer_agb="",
            unit="14",
            frequency="6",
            volume=60,
            end_reason="33",
            allocation_date=pd.Timestamp("2024-01-20 14:35:10"),
        ),
    ]
    frame = pd.DataFrame(rows)
    for column in [
        "birth_date",
        "request_date",
        "requested_start",
        "requested_end",
        "allocation_date",
        "allocation_start",
        "allocation_end",
        "start_date",
        "end_date",
    ]:
        frame[column] = pd.to_datetime(frame[column])
    return frame


@pytest.fixture()
def declarations() -> pd.DataFrame:
    rows = [
        declaration_line("DEC2024A", "123456782", "L0001"),
        declaration_line("DEC2024A", "111222333", "L0002", volume=4, amount_cents=38000),
        # Credit line for client 1, reversing an earlier debit line.
        declaration_line(
            "DEC2024A",
            "123456782",
            "L0003",
            previous_product_reference="L0000",
            volume=2,
            amount_cents=19000,
            debit_credit="C",
        ),
        # Budget product in euro's: no ProductTarief (CD087).
        declaration_line(
            "DEC2024B",
            "111222333",
            "L0004",
            unit="83",
            tariff_cents=None,
            volume=50000,
            amount_cents=50000,
        ),
        # A declaration with only a credit line: negative total.
        declaration_line(
            "DEC2024C",
            "123456782",
            "L0005",
            previous_product_reference="L0001",
            amount_cents=95000,
            debit_credit="C",
        ),
    ]
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def schemas(ijw_xsd_dir: Path) -> dict[str, etree.XMLSchema]:
    names = ["JW301", "JW305", "JW307", "JW315", "JW323"]
    return {name: etree.XMLSchema(etree.parse(str(ijw_xsd_dir / f"{name}.xsd"))) for name in names}


def _all_messages(
    trajectories: pd.DataFrame, declarations: pd.DataFrame
) -> dict[str, list[tuple[str, bytes]]]:
    """Render every message type the way the caller does: pre-filtered per event."""
    allocated = trajectories[trajectories["allocation_number"].notna()]
    started = trajectories[trajectories["start_date"].notna()]
    ended = trajectories[trajectories["end_date"].notna()]
    return {
        "JW315": list(render_jw315(trajectories)),
        "JW301": list(render_jw301(allocated)),
        "JW305": list(render_jw305(started)),
        "JW307": list(render_jw307(ended)),
        "JW323": list(render_jw323(declarations)),
    }


def _parse(xml: bytes) -> etree._Element:
    return etree.fromstring(xml)


def test_every_message_is_valid_against_its_xsd(
    trajectories: pd.DataFrame, declarations: pd.DataFrame, schemas: dict[str, etree.XMLSchema]
) -> None:
    messages = _all_messages(trajectories, declarations)
    assert {name: len(items) for name, items in messages.items()} == {
        "JW315": 4,
        "JW301": 3,
        "JW305": 3,
        "JW307": 2,
        "JW323": 3,
    }
    for name, items in messages.items():
        for file_name, xml in items:
            assert xml.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
            document = etree.fromstring(xml)
            schema = schemas[name]
            assert schema.validate(document), f"{file_name}: {schema.error_log}"


def test_vendor_style_prefixes_every_element_and_only_that(
    trajectories: pd.DataFrame, declarations: pd.DataFrame, schemas: dict[str, etree.XMLSchema]
) -> None:
    """Byte for byte what a regular expression over the tags gives (an independent way of
    writing the rule), and valid against the XSD."""
    import re

    unprefixed = re.compile(rb"<(/?)(?![A-Za-z_][\w.-]*:)([A-Za-z_][\w.-]*)")
    for name, items in _all_messages(trajectories, declarations).items():
        prefix = name.lower().encode()
        for file_name, xml in items:
            styled = in_vendor_style(xml, name)
            expected = xml.replace(b'xmlns="', b"xmlns:" + prefix + b'="', 1)
            expected = expected.replace(b"xmlns:ijw=", b"xmlns:b=", 1)
            expected = expected.replace(b"<ijw:", b"<b:").replace(b"</ijw:", b"</b:")
            assert styled == unprefixed.sub(rb"<\1" + prefix + rb":\2", expected), file_name
            root = etree.fromstring(styled)
            assert root.prefix == name.lower() and schemas[name].validate(root), file_name


def test_file_names_match_unique_identifications(
    trajectories: pd.DataFrame, declarations: pd.DataFrame
) -> None:
    messages = _all_messages(trajectories, declarations)
    for name, items in messages.items():
        identifications = []
        for file_name, xml in items:
            ident = _parse(xml).findtext(
                "m:Header/m:BerichtIdentificatie/ijw:Identificatie", namespaces=_ns(name)
            )
            assert file_name == f"{name}_{ident}.xml"
            assert 1 <= len(ident) <= 12
            identifications.append(ident)
        assert len(set(identifications)) == len(identifications)
    assert messages["JW315"][0][0] == "JW315_315000000001.xml"
    assert [file_name for file_name, _ in messages["JW323"]] == [
        "JW323_DEC2024A.xml",
        "JW323_DEC2024B.xml",
        "JW323_DEC2024C.xml",
    ]


def test_rendering_is_deterministic(trajectories: pd.DataFrame, declarations: pd.DataFrame) -> None:
    first = _all_messages(trajectories, declarations)
    second = _all_messages(trajectories.copy(), declarations.copy())
    assert first == second


def test_header_direction_and_dagtekening(trajectories: pd.DataFrame) -> None:
    expected = {
        "JW315": (render_jw315, "87654321", "1895", "2024-01-10"),
        "JW301": (render_jw301, "1895", "87654321", "2024-01-20"),
        "JW305": (render_jw305, "87654321", "1895", "2024-02-05"),
        "JW307": (render_jw307, "87654321", "1895", "2024-06-28"),
    }
    first = trajectories.iloc[[0]]
    for name, (render, sender, receiver, dagtekening) in expected.items():
        _, xml = next(render(first))
        header = _parse(xml).find("m:Header", _ns(name))
        assert header.findtext("m:Afzender", namespaces=_ns(name)) == sender
        assert header.findtext("m:Ontvanger", namespaces=_ns(name)) == receiver
        path = "m:BerichtIdentificatie/ijw:Dagtekening"
        assert header.findtext(path, namespaces=_ns(name)) == dagtekening


def test_child_name_is_present_in_every_trajectory_message(trajectories: pd.DataFrame) -> None:
    ended = trajectories[trajectories["end_date"].notna()]
    for name, render in [
        ("JW315", render_jw315),
        ("JW301", render_jw301),
        ("JW305", render_jw305),
        ("JW307", render_jw307),
    ]:
        _, xml = next(render(ended))
        client = _parse(xml).find("m:Client", _ns(name))
        ns = _ns(name)
        assert client.findtext("m:Naam/ijw:Geslachtsnaam/ijw:Achternaam", namespaces=ns) == (
            "O'Neill & Zn"
        )
        assert client.findtext("m:Naam/ijw:Geslachtsnaam/ijw:Voorvoegsel", namespaces=ns) == (
            "van 't"
        )
        assert client.findtext("m:Naam/ijw:Voornamen", namespaces=ns) == "Anne & Lotte"
        assert client.findtext("m:Naam/ijw:Voorletters", namespaces=ns) == "AL"


def test_jw301_carries_address_phone_and_parent(trajectories: pd.DataFrame) -> None:
    ns = _ns("JW301")
    messages = list(render_jw301(trajectories[trajectories["allocation_number"].notna()]))
    client = _parse(messages[0][1]).find("m:Client", ns)
    contact = client.find("m:Contactgegevens/m:Contact", ns)
    assert contact.findtext("m:Soort", namespaces=ns) == "01"
    address = contact.find("m:Adres", ns)
    # Street names are cut to the 24 characters of LDT_Straatnaam.
    assert address.findtext("ijw:Straatnaam", namespaces=ns) == "Korte Achterweg & Zoon '"
    assert address.findtext("ijw:Huis/ijw:Huisnummer", namespaces=ns) == "12"
    assert address.findtext("ijw:Postcode", namespaces=ns) == "9671AB"
    assert address.findtext("ijw:Plaatsnaam", namespaces=ns) == "Winschoten"
    assert address.findtext("ijw:LandCode", namespaces=ns) == "NL"
    assert contact.findtext("m:Telefoon/ijw:Telefoon01/ijw:Telefoonnummer", namespaces=ns) == (
        "0597123456"
    )
    relation = client.find("m:Relaties/m:Relatie", ns)
    assert relation.findtext("m:Soort", namespaces=ns) == "10"
    assert relation.findtext("m:Naam/ijw:Geslachtsnaam/ijw:Achternaam", namespaces=ns) == "Jansen"
    assert relation.findtext("m:Naam/ijw:Voornamen", namespaces=ns) == "Mark <Kees>"
    assert (
        relation.findtext("m:Contact/m:Telefoon/ijw:Telefoon01/ijw:Telefoonnummer", namespaces=ns)
        == "0612345678"
    )
    product = client.find("m:ToegewezenProducten/m:ToegewezenProduct", ns)
    assert product.findtext("m:ToewijzingNummer", namespaces=ns) == "700001"
    assert product.findtext("m:Einddatum", namespaces=ns) == "2024-07-31"
    # Ongoing trajectory: no phone and an open-ended allocation.
    ongoing = _parse(messages[1][1]).find("m:Client", ns)
    assert ongoing.find("m:Contactgegevens/m:Contact/m:Telefoon", ns) is None
    assert ongoing.find("m:ToegewezenProducten/m:ToegewezenProduct/m:Einddatum", ns) is None
    # Allocation time comes from the time of day of allocation_date.
    timed = _parse(messages[2][1]).find("m:Client/m:ToegewezenProducten/m:ToegewezenProduct", ns)
    assert timed.findtext("m:Toewijzingstijd", namespaces=ns) == "14:35:10"


def test_jw301_without_parent_surname_has_no_relation(trajectories: pd.DataFrame) -> None:
    row = trajectories.iloc[[0]].assign(parent_surname="")
    _, xml = next(render_jw301(row))
    assert _parse(xml).find("m:Client/m:Relaties", _ns("JW301")) is None


def test_escaping_round_trips_special_characters(trajectories: pd.DataFrame) -> None:
    _, xml = next(render_jw315(trajectories.iloc[[0]]))
    assert b"O'Neill &amp; Zn" in xml
    assert b"Anne &amp; Lotte" in xml
    _, xml = next(render_jw301(trajectories.iloc[[0]]))
    assert b"Mark &lt;Kees&gt;" in xml


def _referrer(xml: bytes) -> dict[str, str]:
    ns = _ns("JW315")
    referrer = _parse(xml).find(
        "m:Client/m:AangevraagdeProducten/m:AangevraagdProduct/m:Verwijzer", ns
    )
    return {etree.QName(child).localname: child.text for child in referrer}


def test_referrer_follows_conditional_rules(trajectories: pd.DataFrame) -> None:
    rendered = {name: xml for name, xml in render_jw315(trajectories)}
    # 02 with AGB code: ZorgverlenerCode, no Naam (CD066).
    assert _referrer(rendered["JW315_315000000001.xml"]) == {
        "Type": "02",
        "ZorgverlenerCode": "01234567",
    }
    # 06 self-referral without name: Type only.
    assert _referrer(rendered["JW315_315000000002.xml"]) == {"Type": "06"}
    # 01 municipality: Naam, never ZorgverlenerCode (CD068).
    assert _referrer(rendered["JW315_315000000003.xml"]) == {
        "Type": "01",
        "Naam": "Gemeente Oldambt",
    }
    # 02 without AGB code: Naam (CD067).
    assert _referrer(rendered["JW315_315000000004.xml"]) == {
        "Type": "02",
        "Naam": "Huisartsenpraktijk De Linde",
    }


def test_agb_code_is_dropped_for_non_professional_referrer(trajectories: pd.DataFrame) -> None:
    row = trajectories.iloc[[2]].assign(referrer_agb="01234567")
    _, xml = next(render_jw315(row))
    assert _referrer(xml) == {"Type": "01", "Naam": "Gemeente Oldambt"}


def test_professional_referrer_without_agb_or_name_is_rejected(
    trajectories: pd.DataFrame,
) -> None:
    row = trajectories.iloc[[3]].assign(referrer_name="")
    with pytest.raises(ValueError, match="referrer_agb"):
        render_jw315(row)


def _declaration(xml: bytes) -> etree._Element:
    return _parse(xml).find("m:Declaratie", _ns("JW323"))


def test_jw323_groups_clients_and_totals_signed_sum(declarations: pd.DataFrame) -> None:
    ns = _ns("JW323")
    messages = dict(render_jw323(declarations))
    declaration = _declaration(messages["JW323_DEC2024A.xml"])
    clients = declaration.findall("m:Clienten/m:Client", ns)
    assert [client.findtext("m:Bsn", namespaces=ns) for client in clients] == [
        "123456782",
        "111222333",
    ]
    references = [
        client.xpath(
            "m:Prestaties/m:Prestatie/m:ProductReferentie/ijw:ReferentieNummer/text()",
            namespaces=ns,
        )
        for client in clients
    ]
    assert references == [["L0001", "L0003"], ["L0002"]]

    for number, lines in declarations.groupby("declaration_number"):
        signed = lines["amount_cents"].where(lines["debit_credit"] == "D", -lines["amount_cents"])
        expected = int(signed.sum())
        total = _declaration(messages[f"JW323_{number}.xml"]).find("m:TotaalIngediendBedrag", ns)
        amount = int(total.findtext("ijw:TotaalBedrag", namespaces=ns))
        sign = total.findtext("ijw:DebetCredit", namespaces=ns)
        assert (amount if sign == "D" else -amount) == expected
    assert _declaration(messages["JW323_DEC2024A.xml"]).findtext(
        "m:TotaalIngediendBedrag/ijw:TotaalBedrag", namespaces=ns
    ) == str(95000 + 38000 - 19000)
    assert (
        _declaration(messages["JW323_DEC2024C.xml"]).findtext(
            "m:TotaalIngediendBedrag/ijw:DebetCredit", namespaces=ns
        )
        == "C"
    )


def test_jw323_line_details(declarations: pd.DataFrame) -> None:
    ns = _ns("JW323")
    messages = dict(render_jw323(declarations))
    lines = {
        line.findtext("m:ProductReferentie/ijw:ReferentieNummer", namespaces=ns): line
        for xml in messages.values()
        for line in _declaration(xml).iter(f"{{{ns['m']}}}Prestatie")
    }
    credit = lines["L0003"]
    assert credit.findtext("m:ProductReferentie/ijw:VorigReferentieNummer", namespaces=ns) == (
        "L0000"
    )
    assert credit.findtext("m:IngediendBedrag/ijw:DebetCredit", namespaces=ns) == "C"
    assert lines["L0001"].find("m:ProductReferentie/ijw:VorigReferentieNummer", ns) is None
    assert lines["L0001"].findtext("m:ProductTarief", namespaces=ns) == "9500"
    assert lines["L0004"].find("m:ProductTarief", ns) is None


def test_credit_line_needs_previous_reference(declarations: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="previous_product_reference"):
        render_jw323(declarations.drop(columns="previous_product_reference"))
    debit_only = declarations[declarations["debit_credit"] == "D"]
    assert len(list(render_jw323(debit_only.drop(columns="previous_product_reference")))) == 2


def test_inconsistent_declaration_header_is_rejected(declarations: pd.DataFrame) -> None:
    changed = declarations.copy()
    changed.loc[1, "municipality_code"] = "0014"
    with pytest.raises(ValueError, match="DEC2024A"):
        render_jw323(changed)


RENDERERS: list[tuple[Renderer, str]] = [
    (render_jw315, "requested_start"),
    (render_jw301, "allocation_date"),
    (render_jw305, "start_date"),
    (render_jw307, "end_reason"),
    (render_jw323, "amount_cents"),
]


@pytest.mark.parametrize(("render", "column"), RENDERERS)
def test_missing_required_column_raises(
    render: Renderer, column: str, trajectories: pd.DataFrame, declarations: pd.DataFrame
) -> None:
    frame = declarations if render is render_jw323 else trajectories
    with pytest.raises(ValueError, match=column):
        render(frame.drop(columns=column))


@pytest.mark.parametrize(
    ("render", "event_column", "column"),
    [
        (render_jw301, "allocation_date", "allocation_date"),
        (render_jw301, "allocation_date", "allocation_number"),
        (render_jw305, "start_date", "start_date"),
        (render_jw307, "end_date", "end_date"),
        (render_jw307, "end_date", "end_reason"),
        (render_jw315, "request_date", "surname"),
    ],
)
def test_null_required_value_raises(
    render: Renderer, event_column: str, column: str, trajectories: pd.DataFrame
) -> None:
    frame = trajectories[trajectories[event_column].notna()].copy()
    frame[column] = frame[column].astype(object)
    frame.loc[0, column] = None
    with pytest.raises(ValueError, match=rf"'{column}' is null.*trajectory_id: 1"):
        render(frame)


def test_rows_the_caller_did_not_filter_raise(trajectories: pd.DataFrame) -> None:
    # The ongoing trajectory has no end date, so it cannot produce a JW307.
    with pytest.raises(ValueError, match="end_date"):
        render_jw307(trajectories)


def test_invalid_code_raises(trajectories: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="referrer_type"):
        render_jw315(trajectories.assign(referrer_type="07"))
    with pytest.raises(ValueError, match="unit"):
        render_jw315(trajectories.assign(unit=4))


def test_duplicate_trajectory_id_raises(trajectories: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="trajectory_id"):
        render_jw315(pd.concat([trajectories, trajectories.iloc[[0]]]))


def test_empty_input_renders_nothing(trajectories: pd.DataFrame) -> None:
    assert list(render_jw315(trajectories.iloc[0:0])) == []


def test_rows_of_one_message_group_are_the_products_of_one_message(
    schemas: dict[str, etree.XMLSchema],
) -> None:
    """Two products for one client bundled by message_group; a third row on its own."""
    rows = pd.DataFrame(
        [
            _trajectory(1, message_group=1),
            _trajectory(
                2,
                message_group=1,
                product_category="54",
                product_code="54001",
                allocation_number="700900",
            ),
            _trajectory(3),
        ]
    )
    products = {
        "JW315": "AangevraagdProduct",
        "JW301": "ToegewezenProduct",
        "JW305": "StartProduct",
        "JW307": "StopProduct",
    }
    for name, renderer in {
        "JW315": render_jw315,
        "JW301": render_jw301,
        "JW305": render_jw305,
        "JW307": render_jw307,
    }.items():
        messages = list(renderer(rows))
        assert [file_name for file_name, _ in messages] == [
            f"{name}_{name[2:]}000000001.xml",
            f"{name}_{name[2:]}000000003.xml",
        ]
        counts = []
        for file_name, xml in messages:
            document = etree.fromstring(xml)
            assert schemas[name].validate(document), f"{file_name}: {schemas[name].error_log}"
            counts.append(len(document.findall(f".//m:{products[name]}", _ns(name))))
        assert counts == [2, 1], name


def test_a_message_group_with_two_clients_is_rejected() -> None:
    rows = pd.DataFrame(
        [_trajectory(1, message_group=1), _trajectory(2, message_group=1, bsn="111222333")]
    )
    with pytest.raises(ValueError, match="message_group 1 mixes rows with different bsn"):
        list(render_jw315(rows))
