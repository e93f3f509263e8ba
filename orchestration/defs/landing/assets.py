"""The landing area as the warehouse sees it: an inventory of every delivered file.

Each file gets its size and SHA-256 content hash, the key the ingestion layer uses to
recognise a file delivered twice, and its signature (size, times, inode), so the next run
and the source assets take the hash from here instead of reading an unchanged file again.
The inventory is replaced on every run; it describes what is in the landing folder now.
"""

from pathlib import Path

import dagster as dg
import pandas as pd

from orchestration.resources import PilotmonitorSettings, WarehouseResource
from pilotmonitor.ingest.deliveries import (
    KnownHashes,
    UnrecognisedDelivery,
    content_hash,
    landing_entries,
    path_order,
    recognise,
    signature_of,
)
from pilotmonitor.ingest.loader import known_hashes, register_unusable
from pilotmonitor.warehouse_access import replace_table

# The raw tables this asset writes: the inventory, and failed rows in the delivery register
# for files that follow no naming convention or are never read (links, special files).
TABLES = ("landing_files", "deliveries")

COLUMNS = ["path", "area", "source", "size_bytes", "sha256", "signature"]


def inventory(
    landing_dir: Path,
    known: KnownHashes | None = None,
    entries: list[tuple[Path, str | None]] | None = None,
) -> pd.DataFrame:
    """Every landing file with its hash; ``known`` (the previous inventory) saves reading
    a file again while its signature (size, times, inode) is unchanged. ``entries``: the
    landing area's ``landing_entries`` if the caller walked it already."""
    rows = []
    walked = landing_entries(landing_dir) if entries is None else entries
    for path in sorted((p for p, refused in walked if refused is None), key=path_order):
        relative = path.relative_to(landing_dir)
        name = relative.as_posix()
        try:
            source, _ = recognise(name)
        except UnrecognisedDelivery:
            source = None
        info = path.stat()  # once: the signature and the size
        signature = signature_of(info)
        rows.append(
            {
                "path": name,
                "area": relative.parts[0],
                "source": source,
                "size_bytes": info.st_size,
                "sha256": content_hash(path, name, known, signature),
                "signature": signature,
            }
        )
    return pd.DataFrame(rows, columns=COLUMNS)


@dg.asset(group_name="landing", compute_kind="python")
def landing_inventory(
    context: dg.AssetExecutionContext,
    pilotmonitor: PilotmonitorSettings,
    warehouse: WarehouseResource,
) -> dg.MaterializeResult:
    """Every file in the landing area with its source, size and content hash
    (raw.landing_files); files whose names follow no delivery convention, symbolic links and
    special files are registered as failed deliveries so they are seen, not ignored."""
    settings = pilotmonitor.settings()
    if missing := settings.missing_landing_area():
        raise dg.Failure(missing)
    landing_dir = settings.landing_dir
    synthetic = (landing_dir / "SYNTHETIC_DATA.txt").is_file()
    with warehouse.get_connection() as conn:
        conn.execute("create schema if not exists raw")
        entries = list(landing_entries(landing_dir))  # one walk for both
        files = inventory(landing_dir, known_hashes(conn), entries)
        conn.register("files", files)
        replace_table(conn, "raw", "landing_files", "select * from files")
        unusable = register_unusable(conn, landing_dir, entries)
    for problem in unusable:
        context.log.error(f"unusable delivery: {problem}")
    per_area = files.groupby("area").size().to_dict()
    context.log.info(f"{len(files)} files in the landing area: {per_area}")
    return dg.MaterializeResult(
        metadata={
            "files": len(files),
            "bytes": int(files.size_bytes.sum()),
            "distinct_contents": int(files.sha256.nunique()),
            "synthetic": synthetic,
            "unusable_files": len(unusable),
            **{f"files_{area}": int(count) for area, count in per_area.items()},
        }
    )
