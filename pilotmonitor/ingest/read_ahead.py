"""Read deliveries in worker processes while the loader writes.

Reading a delivery (parsing, validating, pseudonymising) is CPU-bound Python; writing is
DuckDB's single writer. With ``workers`` processes the files are read ahead, in order,
while the loader writes what was read before. Files travel in small batches (one round
trip between processes costs about as much as reading a small delivery); at most a few
batches per worker are in flight, so memory holds a few files, not the landing area.

The reader is handed to each worker once (pool initializer); with it the
pseudonymisation key crosses a pipe to a child process of the same run, never a file.
A reader's ``DeliveryError`` is carried back and raised in the loader (the delivery is
registered as failed, as when read in-process); any other error is raised in the loader
too and stops the source, as it would in-process.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future
from pathlib import Path

from pilotmonitor.ingest.contracts import DeliveryError, ReadOutput, ReadResult, iter_parts
from pilotmonitor.ingest.deliveries import Delivery
from pilotmonitor.worker_processes import spawned_pool

Reader = Callable[[Path, Delivery], ReadOutput]
Read = Callable[[], ReadOutput]  # the loader's handle on one delivery's parts
WINDOW_PER_WORKER = 3  # tasks in flight per worker
# Deliveries per task at most. A reader with ``read_many`` checks a task's files of one
# layout as one block, whose pandas work costs per block: a school's yearly enrolment
# export (about 220 rows, 35 kB) was read in 20% less CPU in tasks of 64 than of 16
# (Groningen pool, 881 exports, 2026-12-07); absence exports reach BATCH_BYTES first.
BATCH_FILES = 64
BATCH_BYTES = 4_000_000  # and file bytes per task at most (a large file is a task of its own)

_reader: Reader | None = None  # set in each worker by _install


def _install(reader: Reader) -> None:
    global _reader
    _reader = reader


def _read_all(reader: Reader, path: Path, delivery: Delivery) -> list[ReadResult] | DeliveryError:
    """Every part of one delivery (a delivery is one school-year or archive-month: small)."""
    try:
        return list(iter_parts(reader(path, delivery)))
    except DeliveryError as error:
        return error


def _read_items(
    reader: Reader, items: list[tuple[Path, Delivery]]
) -> list[list[ReadResult] | Exception]:
    """The items' results in order; an unexpected error ends the batch as its last result,
    so the deliveries before it are still handed to the loader first, as in-process.

    A reader with ``read_many`` (sources.SourceReader) reads the items at once. Should
    that fail unexpectedly, they are read one by one: the one-by-one reader is the
    reference, and its error then names the delivery that caused it."""
    many = getattr(reader, "read_many", None)
    if many is not None and len(items) > 1:
        try:
            results = many(items)
        except Exception:
            results = None
        # one result per item, in order: the loader pairs them with its deliveries
        if results is not None and len(results) == len(items) and None not in results:
            return results
    results: list[list[ReadResult] | Exception] = []
    for path, delivery in items:
        try:
            results.append(_read_all(reader, path, delivery))
        except Exception as error:
            results.append(error)
            break
    return results


def _read_batch(items: list[tuple[Path, Delivery]]) -> list[list[ReadResult] | Exception]:
    assert _reader is not None, "worker started without a reader"
    return _read_items(_reader, items)


def _handle(result: list[ReadResult] | Exception) -> Read:
    def read() -> ReadOutput:
        if isinstance(result, Exception):
            raise result
        return iter(result)

    return read


def _batches(items: Iterable[tuple[Path, Delivery]]) -> Iterator[list[tuple[Path, Delivery]]]:
    """Consecutive items grouped per task: a task's round trip between processes costs
    about a millisecond, as much as reading a small delivery."""
    batch: list[tuple[Path, Delivery]] = []
    size = 0
    for item in items:
        batch.append(item)
        size += item[1].size_bytes
        if len(batch) >= BATCH_FILES or size >= BATCH_BYTES:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def read_in_order(reader: Reader, items: Iterable[tuple[Path, Delivery]]) -> Iterator[Read]:
    """One handle per item, in order, read in this process: small files a batch at a time
    (a reader with ``read_many`` reads a batch at once); a large one (BATCH_BYTES or more)
    when the loader asks, so its parts reach the loader one by one and memory holds one
    part, not the file."""
    for large, run in itertools.groupby(items, key=lambda item: item[1].size_bytes >= BATCH_BYTES):
        if large:
            for path, delivery in run:
                yield lambda path=path, delivery=delivery: reader(path, delivery)
            continue
        for batch in _batches(run):
            for result in _read_items(reader, batch):
                yield _handle(result)


def read_ahead(
    reader: Reader, items: Iterable[tuple[Path, Delivery]], workers: int
) -> Iterator[Read]:
    """One handle per item, in the order of ``items``."""
    window = max(1, workers * WINDOW_PER_WORKER)
    executor = spawned_pool(workers, _install, (reader,))
    pending: deque[Future] = deque()
    todo = _batches(items)
    try:
        for batch in todo:
            pending.append(executor.submit(_read_batch, batch))
            if len(pending) >= window:
                break
        while pending:
            results = pending.popleft().result()
            following = next(todo, None)
            if following is not None:
                pending.append(executor.submit(_read_batch, following))
            for result in results:
                yield _handle(result)
            del results
    finally:
        executor.shutdown(wait=True, cancel_futures=True)
