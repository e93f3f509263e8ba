"""Package iJw messages the way a municipality delivers them for research: one ZIP
archive per municipality and month, holding every message exchanged in that month
(requests, allocations, starts, stops and declarations), delivered early the next month.

As real exports do, an archive also holds retour messages (JW302, JW306, JW308, JW316,
JW325) answering about one message in four, and half of the senders' software writes
prefixed namespaces (``jw301:``, ``b:``) instead of a default one (``in_vendor_style``).
A request for two products is one message with two products (``message_group``).

Planted here: extra JW315 requests with a BSN failing the 11-check, extra declaration
lines with a product code outside the product list, and one month that arrives late
(after the next month's archive).
"""

from __future__ import annotations

import io
import zipfile
import zlib
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from pilotmonitor.synth import identities
from pilotmonitor.synth.care import UNKNOWN_PRODUCT_CODE
from pilotmonitor.synth.delivery_log import DeliveryLog
from pilotmonitor.synth.ijw_messages import (
    in_vendor_style,
    render_jw301,
    render_jw305,
    render_jw307,
    render_jw315,
    render_jw323,
    render_retour,
)
from pilotmonitor.synth.scenario import Scenario

PLANTED_TRAJECTORY_OFFSET = 900_000_000  # ids of planted extra requests, never real


def _month(dates: pd.Series) -> pd.Series:
    return dates.dt.strftime("%Y-%m")


def plant_invalid_requests(
    trajectories: pd.DataFrame, scenario: Scenario, rng: np.random.Generator, offset: int = 0
) -> pd.DataFrame:
    """Extra JW315 requests: copies of real ones whose BSN fails the 11-check."""
    rate = scenario.defects.invalid_bsn_rate
    n = max(1, round(rate * len(trajectories))) if rate > 0 and len(trajectories) else 0
    chosen = trajectories.iloc[rng.integers(0, len(trajectories), size=n)].copy()
    chosen["trajectory_id"] = PLANTED_TRAJECTORY_OFFSET + offset + np.arange(n)
    chosen["bsn"] = identities.format_number(
        identities.corrupt_check_digit(chosen.bsn.astype(np.int64).to_numpy(), rng)
    )
    if "message_group" in chosen:
        # a message of its own; missing in the column's own dtype (a bare pd.NA is an object
        # column, which pandas warns would change the concatenated dtype)
        chosen["message_group"] = pd.Series(
            pd.NA, index=chosen.index, dtype=trajectories["message_group"].dtype
        )
    return chosen.assign(planted="invalid_bsn")


def plant_unknown_products(
    declarations: pd.DataFrame, scenario: Scenario, rng: np.random.Generator, offset: int = 0
) -> pd.DataFrame:
    """Extra debit lines with a product code that is not in the product list."""
    debits = declarations[declarations.debit_credit == "D"]
    rate = scenario.defects.unknown_product_code_rate
    n = max(1, round(rate * len(declarations))) if rate > 0 and len(debits) else 0
    chosen = debits.iloc[rng.integers(0, len(debits), size=n)].copy()
    chosen["product_code"] = UNKNOWN_PRODUCT_CODE
    chosen["product_reference"] = [f"PX{offset + i:010d}" for i in range(n)]
    return chosen.assign(planted="unknown_product_code")


def _prefixed_sender(sender: str) -> bool:
    """Whether a sender's software writes prefixed namespaces (every other AGB/CBS code)."""
    return int(sender) % 2 == 0


def _as_sent(message: str, sender: str, name: str, payload: bytes) -> list[tuple[str, bytes]]:
    """A message as its sender's software writes it, plus the retour message answering
    it for about one message in four (chosen by name, so without a random draw)."""
    if _prefixed_sender(sender):
        payload = in_vendor_style(payload, message)
    out = [(name, payload)]
    if _answered(name):
        out.append(render_retour(message, payload))
    return out


def _answered(name: str) -> bool:
    """Whether a retour message answers this one (about one in four, chosen by name)."""
    return zlib.crc32(name.encode()) % 4 == 0


def _zip_bytes(members: list[tuple[str, bytes]], stamp: pd.Timestamp) -> bytes:
    """A ZIP with fixed member timestamps, so the same seed gives the same bytes."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, payload in members:
            info = zipfile.ZipInfo(name, date_time=(stamp.year, stamp.month, stamp.day, 8, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, payload)
    return buffer.getvalue()


def write_archive(
    path: Path, messages: list[tuple[str, str, str, bytes]], delivered: pd.Timestamp
) -> None:
    """One archive: each (message type, sender, member name, payload) as its sender's
    software writes it (with retour messages), zipped."""
    members = [m for message in messages for m in _as_sent(*message)]
    path.write_bytes(_zip_bytes(members, delivered))


def _run_here(task: Callable[..., None], *args: object) -> None:
    task(*args)


def write_ijw_archives(
    trajectories: pd.DataFrame,
    declarations: pd.DataFrame,
    scenario: Scenario,
    months: pd.DatetimeIndex,
    landing_dir: Path,
    log: DeliveryLog,
    rng: np.random.Generator,
    planted_offset: int = 0,
    run: Callable[..., None] = _run_here,
) -> None:
    """Render the messages and log the archives; ``run(write_archive, ...)`` writes each
    archive (in a worker process of the generator's pool, or here): the vendor style,
    retour messages and compression need no draw (3.5 of this function's 7 s on the demo)."""
    invalid = plant_invalid_requests(trajectories, scenario, rng, planted_offset)
    unknown = plant_unknown_products(declarations, scenario, rng, planted_offset)
    requests = pd.concat([trajectories.assign(planted=None), invalid], ignore_index=True)
    lines = pd.concat([declarations.assign(planted=None), unknown], ignore_index=True).sort_values(
        ["declaration_number", "bsn", "product_reference"]
    )

    # (municipality, month) -> list of (message, sender, file name, bytes);
    # planted -> (municipality, month, names)
    members: dict[tuple[str, str], list[tuple[str, str, str, bytes]]] = defaultdict(list)
    planted: list[tuple[str, str, str, str]] = []
    streams = [
        ("JW315", render_jw315, requests, "request_date"),
        (
            "JW301",
            render_jw301,
            trajectories[trajectories.allocation_date.notna()],
            "allocation_date",
        ),
        ("JW305", render_jw305, trajectories[trajectories.start_date.notna()], "start_date"),
        ("JW307", render_jw307, trajectories[trajectories.end_date.notna()], "end_date"),
    ]
    for message, renderer, frame, date_column in streams:
        # One message per message group (several products), else per row: the first row
        # of each message gives its archive.
        first = (
            frame.message_group.isna() | ~frame.message_group.duplicated()
            if "message_group" in frame
            else pd.Series(True, index=frame.index)
        )
        messages = frame[first.to_numpy()]
        keys = list(zip(messages.municipality_code, _month(messages[date_column])))
        flags = messages.planted.tolist() if "planted" in messages else [None] * len(messages)
        senders = messages.municipality_code if message == "JW301" else messages.provider_agb
        for (name, payload), key, flag, sender in zip(renderer(frame), keys, flags, senders):
            members[key].append((message, sender, name, payload))
            if flag:
                planted.append((key[0], key[1], flag, name))
    # per declaration its archive and sender, and its planted lines (dictionaries: a
    # lookup in the frames per message cost more than rendering it)
    firsts = lines.drop_duplicates("declaration_number")
    declaration_keys = {
        number: ((municipality, f"{day:%Y-%m}"), provider)
        for number, municipality, day, provider in zip(
            firsts.declaration_number,
            firsts.municipality_code,
            firsts.declaration_date,
            firsts.provider_agb,
        )
    }
    planted_lines = lines[lines.planted.notna()]
    planted_references = defaultdict(list)
    for number, reference in zip(planted_lines.declaration_number, planted_lines.product_reference):
        planted_references[number].append(reference)
    for name, payload in render_jw323(lines):
        number = name.removeprefix("JW323_").removesuffix(".xml")
        key, provider = declaration_keys[number]
        members[key].append(("JW323", provider, name, payload))
        for reference in planted_references.get(number, ()):
            planted.append((key[0], key[1], "unknown_product_code", f"{name}#{reference}"))

    planted_in = defaultdict(list)  # (municipality, month) -> (kind, member name)
    for p_code, p_period, kind, name in planted:
        planted_in[(p_code, p_period)].append((kind, name))
    municipalities = sorted(trajectories.municipality_code.unique())
    late = None
    if scenario.defects.late_month and len(months) > 2:
        late = (municipalities[rng.integers(0, len(municipalities))], f"{months[-3]:%Y-%m}")
    for code in municipalities:
        for month in months:
            period = f"{month:%Y-%m}"
            delivered = month + pd.offsets.MonthEnd(0) + pd.Timedelta(days=int(rng.integers(3, 11)))
            if (code, period) == late:
                delivered = delivered + pd.DateOffset(months=1) + pd.Timedelta(days=10)
            path = (
                landing_dir / "ijw" / f"GM{code}" / f"GM{code}_ijw_{period}_{delivered:%Y%m%d}.zip"
            )
            path.parent.mkdir(parents=True, exist_ok=True)
            content = members.pop((code, period), [])
            run(write_archive, path, content, delivered)
            log.add_file(
                path,
                source="ijw_messages",
                sender=f"GM{code}",
                period=period,
                delivered_on=f"{delivered:%Y-%m-%d}",
                file_format="zip",
                encoding="utf-8",
                rows=sum(1 + _answered(name) for _, _, name, _ in content),
            )
            if (code, period) == late:
                log.add_defect("late_month", path, "file", 1, "accept_late")
            by_kind: dict[str, list[str]] = defaultdict(list)
            for kind, name in planted_in.get((code, period), ()):
                by_kind[kind].append(name)
            for kind, names in by_kind.items():
                log.add_defect(kind, path, "messages " + ",".join(names), len(names), "quarantine")
