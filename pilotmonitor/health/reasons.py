"""Why rows were quarantined and why validations failed, per source: the top reasons with
their counts and the deliveries they hit (aggregates only; details are scrubbed of
quoted values and long digit runs, so no identifier reaches the status or the page)."""

from __future__ import annotations

import pandas as pd

from pilotmonitor.ingest.contracts import REASONS, scrub
from pilotmonitor.table_digest import table_exists

TOP = 5  # reasons per source
LISTED_DELIVERIES = 5  # delivery files named per reason
DETAIL_LENGTH = 160


def _detail(text, code: str | None = None) -> str | None:
    """The text scrubbed, except the fixed wording of a known reason code."""
    if text is None or (isinstance(text, float) and pd.isna(text)):
        return None
    text, base = str(text), REASONS.get(code or "")
    value = (
        base + scrub(text[len(base) :]) if base and text.startswith(base) else scrub(text)
    ).strip()
    return value if len(value) <= DETAIL_LENGTH else value[: DETAIL_LENGTH - 1] + "…"


def _paths(values) -> list[str]:
    return sorted({str(v) for v in values if v is not None and not pd.isna(v)})[:LISTED_DELIVERIES]


def quarantine_reasons(conn, paths: list[str], top: int = TOP) -> dict[str, list[dict]]:
    """Per source, the most frequent quarantine reasons among the rows of the deliveries
    in `paths`: reason code, a representative detail (the most common reason text), rows,
    deliveries hit and the first delivery files."""
    if not table_exists(conn, "raw", "quarantine") or not paths:
        return {}
    frame = conn.execute(
        """select source, reason_code, path, count(*) as n_rows, mode(reason) as detail
           from raw.quarantine where path in (select unnest(?::varchar[]))
           group by all""",
        [list(paths)],
    ).df()
    out: dict[str, list[dict]] = {}
    for source, group in frame.groupby("source", sort=True):
        reasons = []
        for code, rows in group.groupby("reason_code", dropna=False):
            common = rows.sort_values("n_rows", ascending=False)["detail"].iloc[0]
            reasons.append(
                {
                    "reason_code": None if pd.isna(code) else str(code),
                    "detail": _detail(common, None if pd.isna(code) else str(code)),
                    "rows": int(rows["n_rows"].sum()),
                    "deliveries": int(rows["path"].nunique()),
                    "delivery_files": _paths(rows["path"]),
                }
            )
        reasons.sort(key=lambda r: (-r["rows"], -r["deliveries"], r["reason_code"] or ""))
        out[str(source)] = reasons[:top]
    return out


def validation_failures(
    frame: pd.DataFrame, delivery_key: str | None, top: int = TOP
) -> list[dict]:
    """The failed expectations of one source (rows of its latest validations, with the
    boolean columns ``_error`` and ``_warning``), most serious and most frequent first:
    severity, table, expectation, column, the steward's message, unexpected values,
    deliveries hit and the first delivery files."""
    failed = frame[frame["_error"] | frame["_warning"]]
    if failed.empty:
        return []
    failed = failed.assign(_level=failed["_error"].map({True: "error", False: "warning"}))
    keys = ["_level", *[k for k in ("table", "expectation_type", "column") if k in failed.columns]]
    out = []
    for values, rows in failed.groupby(keys, dropna=False):
        values = dict(zip(keys, values if isinstance(values, tuple) else (values,)))
        message = (
            rows["steward_message"].dropna().mode()
            if "steward_message" in rows.columns
            else pd.Series(dtype=object)
        )
        unexpected = (
            pd.to_numeric(rows["unexpected_count"], errors="coerce").fillna(0).sum()
            if "unexpected_count" in rows.columns
            else 0
        )
        out.append(
            {
                "severity": values["_level"],
                "table": None if pd.isna(values.get("table")) else values.get("table"),
                "expectation": None
                if pd.isna(values.get("expectation_type"))
                else values.get("expectation_type"),
                "column": None if pd.isna(values.get("column")) else values.get("column"),
                "message": _detail(message.iloc[0]) if not message.empty else None,
                "unexpected_values": int(unexpected),
                "deliveries": int(rows[delivery_key].nunique()) if delivery_key else int(len(rows)),
                "delivery_files": _paths(rows["path"]) if "path" in rows.columns else [],
            }
        )
    out.sort(
        key=lambda r: (
            r["severity"] != "error",
            -r["deliveries"],
            -r["unexpected_values"],
            str(r["expectation"]),
        )
    )
    return out[:top]
