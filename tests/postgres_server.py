"""A throwaway PostgreSQL server for the tests that publish to PostgreSQL (initdb into tmp).

Skipped only when the PostgreSQL server binaries are missing outside CI; with CI=true a missing
server fails the run, so the publication path is always exercised in CI.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


def _pg_bindir() -> Path | None:
    """Directory of initdb/pg_ctl: PATH first, then Debian/Ubuntu's versioned folders."""
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    return Path(candidates[0]).parent if candidates else None


def _run(args: list[object], prefix: list[str], env: dict[str, str]) -> None:
    """Run a server command (as the server account when needed); fail with its output."""
    done = subprocess.run(
        [*prefix, *(str(arg) for arg in args)], capture_output=True, text=True, env=env, cwd="/"
    )
    if done.returncode != 0:
        pytest.fail(f"{args[0]} failed ({done.returncode}): {done.stdout}\n{done.stderr}")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _server_prefix() -> list[str]:
    """Command prefix that runs the server tools as a non-root account when we are root.

    PostgreSQL refuses to run as root. pytest's temporary folders are private (0700) and other
    pytest sessions reset their permissions, so instead of opening them up, the `postgres`
    account gets the ambient capability to traverse them (CAP_DAC_READ_SEARCH, or
    CAP_DAC_OVERRIDE in containers that only have that one) for this throwaway server.
    """
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        pytest.fail("running as root and there is no 'postgres' account to run the server")
    setpriv = shutil.which("setpriv")
    bounding = 0
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("CapBnd:"):
            bounding = int(line.split()[1], 16)
    cap = "dac_read_search" if bounding & (1 << 2) else "dac_override" if bounding & 2 else ""
    if not setpriv or not cap:
        pytest.fail(
            "running as root without setpriv/capabilities: run the tests as a non-root user"
        )
    return [
        setpriv,
        "--reuid=postgres",
        "--regid=postgres",
        "--clear-groups",
        f"--inh-caps=+{cap}",
        f"--ambient-caps=+{cap}",
        "--",
    ]


def postgres_server(root: Path) -> Iterator[str]:
    """Start a throwaway PostgreSQL server under `root` on a free localhost port; yield its DSN.

    The `pg_dsn` fixture of tests/conftest.py wraps it (one server per test module).
    """
    bindir = _pg_bindir()
    if bindir is None:
        message = "PostgreSQL server binaries (initdb, pg_ctl) not found"
        if os.environ.get("CI", "").lower() in ("true", "1", "yes"):
            pytest.fail(f"{message}; CI must install them (apt-get install postgresql)")
        pytest.skip(message)
    prefix = _server_prefix()
    data = root / "data"
    data.mkdir(mode=0o700)
    if prefix:
        account = pwd.getpwnam("postgres")
        os.chown(data, account.pw_uid, account.pw_gid)
    env = {**os.environ, "LC_ALL": "C", "LANG": "C"}
    _run(
        [bindir / "initdb", "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8"], prefix, env
    )
    port = _free_port()
    with open(data / "postgresql.conf", "a") as conf:
        # TCP on localhost only, no Unix socket (no system folder needed), fast and throwaway.
        conf.write(
            f"\nport = {port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = ''\n"
            "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
        )
    log = data / "server.log"
    _run([bindir / "pg_ctl", "-D", data, "-l", log, "-w", "-t", "60", "start"], prefix, env)
    try:
        yield f"host=127.0.0.1 port={port} user=postgres dbname=postgres connect_timeout=10"
    finally:
        subprocess.run(
            [*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
            capture_output=True,
            env=env,
            cwd="/",
        )
