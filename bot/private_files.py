"""Files that hold a leader's words are readable by their owner only (0600 in a 0700 folder)."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

FILE_MODE = 0o600
DIR_MODE = 0o700


def private_dir(path: Path) -> Path:
    """Create a folder only its owner can enter; an existing folder is left as the owner set it."""
    path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    return path


def create_private(path: Path) -> None:
    """Create an empty owner-only file if none exists (SQLite keeps the mode it finds, and gives
    its -wal and -shm files the same one)."""
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))


def write_private(path: Path, data: bytes) -> Path:
    """Write data to an owner-only file, whole or not at all (written aside, then renamed)."""
    private_dir(path.parent)
    partial = path.with_name(path.name + ".partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)  # a leftover partial file may have had another mode
        with os.fdopen(fd, "wb", closefd=False) as out:
            out.write(data)
            out.flush()
            os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(partial, path)
    return path
