"""Files that hold HR data, tokens or keys: readable by their owner only (0600), whatever the umask.

Every writer of such a file goes through here: the reports, the packages' error files, the upload
CSVs, the emulator's stores and keys. An existing file is narrowed to 0600 too, since `os.open` keeps
the mode of a file it truncates.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO

PRIVATE_FILE_MODE = 0o600
PRIVATE_FOLDER_MODE = 0o700


def _open_private(path: Path, flags: int = os.O_TRUNC) -> int:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | flags, PRIVATE_FILE_MODE)
    os.fchmod(descriptor, PRIVATE_FILE_MODE)
    return descriptor


@contextlib.contextmanager
def private_file(path: Path) -> Iterator[IO[str]]:
    """`path` opened for writing text (UTF-8, no newline translation), created or truncated as 0600."""
    with open(_open_private(path), "w", newline="", encoding="utf-8") as handle:
        yield handle


@contextlib.contextmanager
def private_binary_file(path: Path) -> Iterator[IO[bytes]]:
    """`path` opened for writing bytes, created or truncated as 0600."""
    with open(_open_private(path), "wb") as handle:
        yield handle


def write_private_atomically(path: Path, content: bytes) -> None:
    """Replace `path` with `content` at once: a 0600 temporary file beside it, synced, then renamed;
    a reader sees the old file or the new one, never a part, and a failure leaves no temporary file."""
    partial = path.with_name(f".{path.name}.partial")
    try:
        with open(_open_private(partial), "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        partial.replace(path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def private_folder(path: Path) -> Path:
    """`path` as a folder only its owner can enter (0700), created with its parents when missing."""
    path.mkdir(parents=True, exist_ok=True, mode=PRIVATE_FOLDER_MODE)
    path.chmod(PRIVATE_FOLDER_MODE)
    return path
