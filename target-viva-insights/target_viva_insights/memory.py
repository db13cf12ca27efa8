"""Give freed heap memory back to the operating system between batches."""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
from collections.abc import Callable


def _glibc_malloc_trim() -> Callable[[int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc.malloc_trim  # type: ignore[no-any-return]
    except (OSError, AttributeError):  # musl and others have no malloc_trim
        return None


_MALLOC_TRIM = _glibc_malloc_trim()


def release_freed_memory() -> None:
    """glibc keeps the pages of freed batches (decoded records, Arrow buffers) mapped, so the peak RSS
    creeps up batch after batch; trimming after each batch keeps it flat (bench/README.md).
    Elsewhere this does nothing."""
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)
