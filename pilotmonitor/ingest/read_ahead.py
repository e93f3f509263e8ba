"""Read deliveries in worker processes while the loader writes.

Reading a delivery (parsing, validating, pseudonymising) is CPU-bound Python; writing is
DuckDB's single writer. With ``workers`` processes the files are read ahead, in order,
while the loader writes what was read before. At most ``window`` reads are in flight, so
memory holds a few files, not the landing area.

The reader is handed to each worker once (pool initializer); with it the
pseudonymisation key crosses a pipe to a child process of the same run, never a file.
A reader's ``DeliveryError`` is carried back and raised in the loader (the delivery is
registered as failed, as when read in-process); any other error is raised in the loader
too and stops the source, as it would in-process.
"""

from __future__ import annotations

import multiprocessing
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path

from pilotmonitor.ingest.contracts import DeliveryError, ReadOutput, ReadResult, iter_parts
from pilotmonitor.ingest.deliveries import Delivery

Reader = Callable[[Path, Delivery], ReadOutput]
Read = Callable[[], ReadOutput]  # the loader's handle on one delivery's parts
WINDOW_PER_WORKER = 4

_reader: Reader | None = None  # set in each worker by _install


def _install(reader: Reader) -> None:
    global _reader
    _reader = reader


def _read_all(path: Path, delivery: Delivery) -> list[ReadResult] | DeliveryError:
    """Every part of one delivery (a delivery is one school-year or archive-month: small)."""
    assert _reader is not None, "worker started without a reader"
    try:
        return list(iter_parts(_reader(path, delivery)))
    except DeliveryError as error:
        return error


def _handle(result: list[ReadResult] | DeliveryError) -> Read:
    def read() -> ReadOutput:
        if isinstance(result, DeliveryError):
            raise result
        return iter(result)
    return read


def read_ahead(reader: Reader, items: Iterable[tuple[Path, Delivery]], workers: int) -> Iterator[Read]:
    """One handle per item, in the order of ``items``."""
    window = max(1, workers * WINDOW_PER_WORKER)
    executor = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"), initializer=_install, initargs=(reader,))
    pending: deque[Future] = deque()
    todo = iter(items)
    try:
        for path, delivery in todo:
            pending.append(executor.submit(_read_all, path, delivery))
            if len(pending) >= window:
                break
        while pending:
            result = pending.popleft().result()
            following = next(todo, None)
            if following is not None:
                pending.append(executor.submit(_read_all, *following))
            yield _handle(result)
    finally:
        executor.shutdown(wait=True, cancel_futures=True)
