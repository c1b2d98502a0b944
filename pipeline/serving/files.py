"""Small filesystem helpers for atomic publication: fsync, atomic writes, directory swaps."""

from __future__ import annotations

import os
import shutil
from pathlib import Path


def fsync_file(path: Path) -> None:
    """Flush a closed file's data to disk, so a rename never exposes a half-written file."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: Path) -> None:
    """Persist a rename inside `path` (POSIX); Windows cannot open directories, so skip there."""
    if os.name != "posix":
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_text_atomic(path: Path, text: str) -> None:
    """Write a small text file by temp file + fsync + os.replace: readers see old or new."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


def switch_symlink(link: Path, target_name: str) -> bool:
    """Point `link` at `target_name` (relative) atomically; False where symlinks are unavailable.

    The new link is created under a temporary name and renamed over the old one: `rename(2)`
    replaces the link in one step, so `latest/` never disappears for a reader.
    """
    tmp = link.with_name(f".{link.name}.{os.getpid()}.tmp")
    try:
        if tmp.is_symlink() or tmp.exists():
            tmp.unlink()
        os.symlink(target_name, tmp, target_is_directory=True)
    except (OSError, NotImplementedError):
        # Windows without developer mode: the LATEST text file is the pointer there.
        return False
    os.replace(tmp, link)
    fsync_dir(link.parent)
    return True


def remove_path(path: Path) -> None:
    """Delete a file, symlink or directory tree if it exists."""
    if path.is_symlink() or path.is_file():
        path.unlink(missing_ok=True)
    elif path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
