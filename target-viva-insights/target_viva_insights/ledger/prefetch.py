"""Read the next batches in a background thread while the current one is worked on.

Arrow parses CSV and zlib inflates with the GIL released, so on two cores reading and digesting
overlap: the ledger comparison of a million rows takes about two thirds of the time it takes in
one thread (bench/ledger_bench.py).
"""

from __future__ import annotations

import contextlib
import io
import queue
import threading
from collections.abc import Generator, Iterable, Iterator
from typing import IO, Any, TypeVar

T = TypeVar("T")
PATIENCE_SECONDS = 2.0
_DONE = object()


def prefetched(items: Iterable[T], depth: int = 2) -> Generator[T, None, None]:
    """`items`, produced up to `depth` ahead by a thread; its exceptions are raised here, in order.

    Stopping early (break, an exception) stops the thread before this generator returns.
    """
    ready: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                if not _offer(ready, item, stop):
                    return
            _offer(ready, _DONE, stop)
        except BaseException as error:  # handed to the consumer, raised there
            _offer(ready, _Failure(error), stop)

    thread = threading.Thread(target=produce, name="prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item = ready.get()
            if item is _DONE:
                return
            if isinstance(item, _Failure):
                raise item.error
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        thread.join()


class _Failure:
    def __init__(self, error: BaseException) -> None:
        self.error = error


def _offer(ready: queue.Queue[object], item: object, stop: threading.Event) -> bool:
    """Put `item` unless the consumer has stopped; False when it has."""
    while not stop.is_set():
        try:
            ready.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


class PacedFile(io.RawIOBase):
    """A binary file whose reader may read at most `ahead` blocks in front of those marked used.

    Arrow's CSV reader reads up to 32 blocks ahead in a background thread, and it has no option to
    read fewer (ARROW-12090); with 1 MB blocks that is 32 MB of text waiting. Pacing its file keeps
    that to a few blocks (bench/README.md). Each block yields one batch, so the consumer marks one
    block used per batch it takes.

    Args:
        raw: the file to read.
        ahead: how many reads may run ahead of `used_one` calls.
    """

    def __init__(self, raw: IO[bytes], ahead: int = 4) -> None:
        super().__init__()
        self._raw = raw
        self._ahead = ahead
        self._reads = 0
        self._used = 0
        self._released = False
        self._turn = threading.Condition()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def read(self, size: int | None = -1) -> bytes:
        with self._turn:
            # Bounded: should the reader ever need more blocks than allowed before its next batch,
            # it gets them late (and holds more memory) instead of waiting forever.
            self._turn.wait_for(
                lambda: self._released or self._reads - self._used < self._ahead, timeout=PATIENCE_SECONDS
            )
            self._reads += 1
        return self._raw.read(-1 if size is None else size)

    def used_one(self) -> None:
        """The reader's output for one block was used: one more read may go ahead."""
        with self._turn:
            self._used += 1
            self._turn.notify_all()

    def release(self) -> None:
        """Stop pacing (the reader is being abandoned: let it run to its end)."""
        with self._turn:
            self._released = True
            self._turn.notify_all()


@contextlib.contextmanager
def paced_batches(paced: PacedFile, batches: Iterable[T]) -> Iterator[Iterator[T]]:
    """`batches`, read from `paced` one block a batch, produced ahead by a thread (`prefetched`);
    each batch taken lets the reader read one block more. The thread is stopped when the context ends.
    """
    running = prefetched(batches)

    def marking_used() -> Iterator[T]:
        for batch in running:
            paced.used_one()
            yield batch

    try:
        yield marking_used()
    finally:
        paced.release()  # first: the read-ahead thread may be waiting for its turn
        running.close()
