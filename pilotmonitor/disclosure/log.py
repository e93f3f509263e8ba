"""The disclosure log of a release: JSON for tools, Markdown and CSV for an output checker."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from pilotmonitor import atomic_write
from pilotmonitor.spreadsheet_safety import neutralise

LOG_NAME = "disclosure_log.json"
MARKDOWN_NAME = "disclosure_log.md"
CSV_NAME = "disclosure_checks.csv"
CSV_FIELDS = [
    "output",
    "kind",
    "output_status",
    "rule",
    "threshold",
    "cells_checked",
    "cells_flagged",
    "outcome",
    "detail",
]


def write_json(document: dict, out_dir: Path) -> Path:
    path = out_dir / LOG_NAME
    atomic_write.write_text(
        path, json.dumps(document, indent=2, ensure_ascii=False, default=str) + "\n"
    )
    return path


def write_csv(document: dict, out_dir: Path) -> Path:
    path = out_dir / CSV_NAME
    with atomic_write.replacing(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_FIELDS)
        writer.writeheader()
        for output in document["outputs"]:
            for c in output["checks"]:
                row = {
                    "output": output["name"],
                    "kind": output["kind"],
                    "output_status": output["status"],
                    **{k: c.get(k) for k in CSV_FIELDS[3:]},
                }
                writer.writerow({k: neutralise(v) for k, v in row.items()})
    return path


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def write_markdown(document: dict, out_dir: Path) -> Path:
    rules = document["rules"]
    lines = [
        f"# Disclosure log: {document['release']}",
        "",
        f"Created {document['created_at']}. Overall status: **{document['status'].upper()}**.",
        "",
        f"Rules ({rules['source']}): at least {rules['min_count']} units per cell; N-K "
        f"n={rules['nk_n']}, k={rules['nk_k']}; p% p={rules['p_ratio']}; residual df at least "
        f"{rules['min_df_resid']}; zeros disclosive: {rules['zeros_are_disclosive']}; no "
        "minima/maxima of individual values; no identifiers.",
        "",
        "| output | kind | status | suppressed cells | file | reasons |",
        "|---|---|---|---|---|---|",
    ]
    for o in document["outputs"]:
        reasons = "; ".join(o["reasons"]) or "-"
        lines.append(
            f"| {_cell(o['name'])} | {o['kind']} | {o['status']} | {o['cells_suppressed']} | "
            f"{_cell(o['path'] or '-')} | {_cell(reasons)} |"
        )
    lines += [
        "",
        "## Checks",
        "",
        "| output | rule | threshold | cells checked | flagged | outcome | detail |",
        "|---|---|---|---|---|---|---|",
    ]
    for o in document["outputs"]:
        for c in o["checks"]:
            lines.append(
                f"| {_cell(o['name'])} | {c['rule']} | {_cell(c['threshold'])} | "
                f"{c['cells_checked']} | {c['cells_flagged']} | {c['outcome']} | "
                f"{_cell(c.get('detail') or '')} |"
            )
    path = out_dir / MARKDOWN_NAME
    atomic_write.write_text(path, "\n".join(lines) + "\n")
    return path
