"""Files that hold a leader's words are readable by their owner only (0600 in a 0700 folder)."""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import stat
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)

FILE_MODE = 0o600
DIR_MODE = 0o700
_NO_LINKS = {errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP}  # link() refused by the file system


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


def publish_private(path: Path, data: bytes) -> bool:
    """Create an owner-only file holding data unless one exists; False if another got there first.

    Written and synced under a unique name beside it, then hard-linked into place: the file
    appears whole or not at all, and of two writers at once only the first one's lands (a
    rename would let the second silently replace a file the first is already using).
    """
    private_dir(path.parent)
    fd, aside = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".partial")
    try:
        with os.fdopen(fd, "wb") as out:  # mkstemp opened it 0600
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        try:
            os.link(aside, path)
        except FileExistsError:
            return False
        except OSError as exc:
            if exc.errno not in _NO_LINKS:
                raise
            # A file system without hard links: still whole or nothing, but two writers in the
            # same instant could each keep their own (a restart then reads the last one).
            os.replace(aside, path)
        _sync_dir(path.parent)
        return True
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(aside)


def _sync_dir(path: Path) -> None:
    """Make a new directory entry durable (a crash right after must not lose it)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_private(path: Path) -> bytes:
    """Read a file only its owner should read, first making it owner-only if it is not."""
    with path.open("rb") as handle:
        if stat.S_IMODE(os.fstat(handle.fileno()).st_mode) & 0o077:
            _tighten(handle.fileno(), path)
        return handle.read()


def _tighten(fd: int, path: Path) -> None:
    """chmod 0600 an open file that group or others could read or write, and say so."""
    try:
        os.fchmod(fd, FILE_MODE)
    except OSError:  # not ours, or a read-only mount: tell, but carry on
        log.warning("%s could be read by others and cannot be made owner-only (0600) by this "
                    "user; fix its permissions", path)
        return
    # Someone copied or restored it without its mode: others may already have read it.
    log.warning("%s could be read by others; made it owner-only (0600)", path)
