"""`ServingOptions`: the Dagster resource that configures the publication.

Secrets (the PII key and the PostgreSQL DSN) are never written in code: they come from resource
config (e.g. `dg.EnvVar(...)` in a deployment) or, when the field is empty, from the environment
variables `SEGMENTS_PII_KEY` and `SEGMENTS_PG_DSN`, read at run time.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import dagster as dg
from pydantic import Field

from pipeline.lib.preflight import raise_problems
from pipeline.lib.settings import ServingSection

PII_KEY_ENV = "SEGMENTS_PII_KEY"
PG_DSN_ENV = "SEGMENTS_PG_DSN"
#: Where `generate_dev_pii_key` keeps the generated key (inside the state directory).
DEV_PII_KEY_FILE = "serving/pii_key.dev"
#: Short keys make the pseudonyms guessable by brute force over the (small) customer id space.
MIN_PII_KEY_LENGTH = 12


class PiiKeyMissingError(RuntimeError):
    """No secret key for the pseudonymous customer keys: publication refuses to run."""


class ServingOptions(dg.ConfigurableResource, ServingSection):
    """What the publication produces and where: serving file, exports, PostgreSQL, PII rules.

    Its fields are the `serving:` section of the settings file (`pipeline/lib/settings.py`),
    plus the two secrets, which never go in that file.
    """

    pii_key: str = Field(
        default="",
        description=f"Secret key of the HMAC-SHA256 customer keys; empty = ${PII_KEY_ENV}.",
    )
    pg_dsn: str = Field(
        default="",
        description=f"PostgreSQL connection string; empty = ${PG_DSN_ENV}; neither = disabled.",
    )

    def resolved_pg_dsn(self) -> str:
        """The PostgreSQL DSN, or "" when PostgreSQL publication is disabled."""
        return self.pg_dsn or os.environ.get(PG_DSN_ENV, "")

    def resolved_pii_key(self, state_dir: Path) -> bytes:
        """The secret key of the customer keys; raises `PiiKeyMissingError` when none is set.

        There is deliberately no default key: a key known from the source code would let anyone
        with the public customer ids re-identify every row.
        """
        key = self._configured_key()
        if not key and self.generate_dev_pii_key:
            key = _dev_key(state_dir / DEV_PII_KEY_FILE)
        _check_key(key)
        return key.encode("utf-8")

    def _configured_key(self) -> str:
        return self.pii_key or os.environ.get(PII_KEY_ENV, "")

    def problems(self) -> list[str]:
        """Pre-flight (`pipeline.lib.preflight`): a PII key is set and long enough.

        With `generate_dev_pii_key` and no key, the publication creates one: nothing to check.
        """
        key = self._configured_key()
        if not key and self.generate_dev_pii_key:
            return []
        try:
            _check_key(key)
        except PiiKeyMissingError as exc:
            return [str(exc)]
        return []

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        """At run start: refuse the run, before any step, without a usable PII key."""
        raise_problems(context, self.problems())


def _check_key(key: str) -> None:
    """Raise `PiiKeyMissingError`, saying how to fix it, for a missing or short key."""
    if not key:
        raise PiiKeyMissingError(
            f"No PII key configured: set the environment variable {PII_KEY_ENV} (or the "
            "`pii_key` field of the `serving` resource) to a secret of at least "
            f"{MIN_PII_KEY_LENGTH} characters, e.g. "
            "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`. "
            "Keep it stable: changing it changes every customer_key in BI tools."
        )
    if len(key) < MIN_PII_KEY_LENGTH:
        raise PiiKeyMissingError(
            f"The PII key is too short ({len(key)} characters, need {MIN_PII_KEY_LENGTH}+)."
        )


def _dev_key(path: Path) -> str:
    """Read, or create with owner-only permissions, the local development key file."""
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(32)
    # O_EXCL: two concurrent first runs must not end up with different keys.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text(encoding="utf-8").strip()
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(key + "\n")
    return key
