"""One writer of the warehouse at a time, across processes: an advisory lock file beside it.

DuckDB refuses a second writer process with an "IO Error: Could not set lock on file" raised from
whichever statement first touches the file, which is too late and too cryptic: two refreshes
launched together (cron and a person, the CLI and the daemon) would fail half-way. Dagster's run
queue and the `duckdb_warehouse` pool only serialize runs of one Dagster instance. This lock
serializes every run that writes the warehouse, whatever started it:

* every run of a job (`Warehouse.setup_for_execution`, held until the run ends): the second run
  waits for the first and says so in its log;
* `segments refresh` / `segments backfill` take it before starting Dagster, so they can tell the
  person at the terminal who holds it, wait (default) or refuse (`--no-wait`, exit code 4).

The lock is `flock(2)` on `<warehouse>.lock`: the kernel releases it when the holder exits, even
killed, so a crash never leaves a stale lock. It is re-entrant within a process (the CLI holds it
and the run it starts in-process takes it again). The file records who holds it, for the message.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


class WarehouseBusy(RuntimeError):
    """Another process writes the warehouse, and the caller chose not to wait."""

    def __init__(self, lock_path: Path, holder: str) -> None:
        super().__init__(f"another process writes the warehouse ({holder}); lock {lock_path}")
        self.lock_path = lock_path
        self.holder = holder


@dataclass
class _Held:
    fd: int
    depth: int


_HELD: dict[Path, _Held] = {}
_GUARD = threading.Lock()


def lock_path_for(warehouse: Path) -> Path:
    """The lock file of a warehouse file: `<warehouse>.lock`, beside it."""
    return warehouse.with_name(warehouse.name + ".lock")


def holder_of(lock_path: Path) -> str:
    """Who holds (or last held) the lock, as written by its holder."""
    try:
        return lock_path.read_text(encoding="utf-8").strip() or "unknown holder"
    except OSError:
        return "unknown holder"


def acquire(
    warehouse: Path,
    purpose: str,
    *,
    wait: bool = True,
    on_wait: Callable[[str], None] | None = None,
) -> Path:
    """Take the writer lock of `warehouse` (re-entrant in this process); returns the lock path.

    Busy: with `wait`, calls `on_wait(holder)` once and blocks until the holder is done; without,
    raises `WarehouseBusy`.
    """
    lock = lock_path_for(warehouse)
    with _GUARD:
        held = _HELD.get(lock)
        if held is not None:
            held.depth += 1
            return lock
    lock.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = holder_of(lock)
            if not wait:
                raise WarehouseBusy(lock, holder) from None
            if on_wait is not None:
                on_wait(holder)
            fcntl.flock(fd, fcntl.LOCK_EX)
        since = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()}, {purpose}, since {since}\n".encode(), 0)
    except BaseException:
        os.close(fd)
        raise
    with _GUARD:
        _HELD[lock] = _Held(fd=fd, depth=1)
    return lock


def release(warehouse: Path) -> None:
    """Give back one level of the lock; the last one unlocks the file."""
    lock = lock_path_for(warehouse)
    with _GUARD:
        held = _HELD.get(lock)
        if held is None:
            return
        held.depth -= 1
        if held.depth > 0:
            return
        del _HELD[lock]
    os.close(held.fd)  # closing the descriptor releases the flock


@contextmanager
def writer_lock(
    warehouse: Path,
    purpose: str,
    *,
    wait: bool = True,
    on_wait: Callable[[str], None] | None = None,
) -> Iterator[Path]:
    """`acquire` for the duration of a block."""
    lock = acquire(warehouse, purpose, wait=wait, on_wait=on_wait)
    try:
        yield lock
    finally:
        release(warehouse)
