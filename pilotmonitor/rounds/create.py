"""``pilotmonitor round create``: freeze what was known at the as-of date, run each
pilot's pre-registered plan on it and keep the round, in one transaction (a round that
failed halfway leaves nothing behind), under the data directory's run lock.

A round of several pilots (no ``--pilot``) covers every pilot that had started by the
as-of date's last complete month; they share the round's run id and frozen data.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb

from pilotmonitor.pilots import Pilot

from . import freeze, registry
from .registry import Round, RoundError


class WarehouseBusy(RuntimeError):
    """A pipeline run (or another writer) holds the warehouse."""


@contextmanager
def warehouse_for_writing(
    data_dir: Path, warehouse_path: Path
) -> Iterator[duckdb.DuckDBPyConnection]:
    """The warehouse's write path: the run lock of the data directory (as `pilotmonitor
    run` holds it), then DuckDB's single writer connection."""
    from pilotmonitor.run_lock import RunInProgress, RunLock, lock_path
    from pilotmonitor.warehouse_access import WarehouseConnectionError, warehouse

    place = warehouse(warehouse_path)
    if not place.exists():
        raise WarehouseBusy(f"no warehouse at {place.describe()}: run `pilotmonitor run` first")
    try:
        with RunLock(lock_path(data_dir)):
            try:
                conn = place.connect()
            except (duckdb.IOException, WarehouseConnectionError) as exc:
                raise WarehouseBusy(
                    f"the warehouse is in use ({str(exc).splitlines()[0]})"
                ) from None
            with conn:
                yield conn
    except RunInProgress as exc:
        raise WarehouseBusy(str(exc)) from None


@dataclass
class Created:
    rounds: list[Round]
    # pilots without pilot months by the as-of date
    skipped: list[str] = field(default_factory=list)
    artifact: Path | None = None


def _first_month(pilot: Pilot) -> date:
    return date(pilot.start.year, pilot.start.month, 1)


def create_round(
    conn: duckdb.DuckDBPyConnection,
    name: str,
    as_of: date,
    pilots: list[Pilot],
    results_dir: Path,
    progress: Callable[[str], None] | None = None,
    only_pilot: str | None = None,
) -> Created:
    """Create round ``name`` as of ``as_of`` for ``pilots`` (write connection; the caller
    holds the run lock). Raises RoundError (name taken or malformed, nothing published,
    as-of after the published data, pilot not started yet)."""
    from pilotmonitor.evaluation.spec import effective_plan, plan_hash
    from pilotmonitor.evaluation.store import (
        append_history,
        compute_effect_estimates,
        write_artifact,
    )

    registry.check_name(name)
    registry.refuse_existing(conn, name)
    latest = freeze.latest_published_month(conn)
    if latest is None:
        raise RoundError("nothing has been published yet: run `pilotmonitor run` first")
    through = freeze.data_through(as_of)
    if through > latest:
        raise RoundError(
            f"as of {as_of} the round would need {through:%Y-%m}, but the published data end at "
            f"{latest:%Y-%m}: a round freezes what is known, choose an as-of date on or before "
            "the end of the published data"
        )
    if only_pilot is not None:
        pilots = [p for p in pilots if p.id == only_pilot]
        if not pilots:
            raise RoundError(f"no pilot {only_pilot!r} in the registry")
    chosen = [p for p in pilots if _first_month(p) <= through]
    skipped = [p.id for p in pilots if p not in chosen]
    if not chosen:
        raise RoundError(
            f"no pilot had started by {through:%Y-%m} ({', '.join(skipped)}): nothing to evaluate "
            f"as of {as_of}"
        )
    run_id = uuid.uuid4().hex
    conn.execute("begin transaction")
    try:
        freeze.freeze(conn, name, as_of, [p.id for p in chosen])
        inputs = freeze.frozen_inputs(conn, name)
        table = compute_effect_estimates(
            conn, chosen, run_id=run_id, progress=progress, inputs=inputs
        )
        append_history(conn, table, chosen)
        created = datetime.now(UTC).replace(tzinfo=None)
        entries = [
            Round(
                name,
                p.id,
                as_of,
                through,
                created,
                run_id,
                str(table["input_hash"].iloc[0]),
                plan_hash(p),
            )
            for p in chosen
        ]
        registry.register(conn, entries)
        conn.execute("commit")
    except Exception:
        conn.execute("rollback")
        raise
    artifact = write_artifact(table, results_dir, plans={p.id: effective_plan(p) for p in chosen})
    return Created(entries, skipped, artifact)
