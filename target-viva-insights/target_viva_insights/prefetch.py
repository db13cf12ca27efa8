"""Read the next batches in a background thread while the current one is worked on.

Arrow parses CSV and zlib inflates with the GIL released, so on two cores reading and digesting
overlap: the ledger comparison of a million rows takes about two thirds of the time it takes in
one thread (bench/ledger_bench.py).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")
_DONE = object()


def prefetched(items: Iterable[T], depth: int = 2) -> Iterator[T]:
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
