"""A deployment's own names among what a PostgreSQL database shares (no I/O here).

One database may hold several bridgebot deployments, one schema each (the ``search_path``
the address names; tables are the schema's). Advisory locks and LISTEN/NOTIFY channels
are not a schema's but the whole database's: with fixed names, the first deployment to
start led every other's Telegram polling, Discord gateway and scheduler (each has its own
bot token, so theirs never ran), and every commit woke every deployment's relays. So each
name is derived from the schema the deployment's tables live in (``current_schema()``):
two schemas are two deployments that share no role, migration lock or wake-up, while the
workers of one deployment (one schema) share all three.

The schema ``public`` (where a database's single deployment lives by default) keeps the
names bridgebot always used, so that while an upgrade replaces the workers one by one the
old and the new ones still share one Telegram poller and wake each other.
"""

from __future__ import annotations

import hashlib

# The schema whose deployment keeps the names of the releases before schemas counted.
LEGACY_SCHEMA = "public"

# Where a committed transaction that queued deliveries says so (LISTEN/NOTIFY), in
# ``public``; another schema's channel is this name and a hash of the schema.
CHANNEL = "bridgebot_outbox"

# Taken while a process migrates, in ``public``: any constant; this one spells "bridgebo".
MIGRATION_LOCK = 0x627269646765626F


def _scoped(name: str, schema: str) -> bytes:
    """``name`` within ``schema`` (unambiguous: a schema's name holds no NUL)."""
    return (name if schema == LEGACY_SCHEMA else f"{name}\0schema {schema}").encode()


def _key(text: bytes) -> int:
    """A stable signed 64-bit advisory lock key (what ``pg_advisory_lock(bigint)`` takes)."""
    return int.from_bytes(hashlib.sha256(text).digest()[:8], "big", signed=True)


def role_key(role: str, schema: str) -> int:
    """The advisory lock key of a role (Telegram polling, a Discord shard, the scheduler)
    in the deployment whose tables are in ``schema``."""
    return _key(_scoped(f"bridgebot leader {role}", schema))


def migration_key(schema: str) -> int:
    """The advisory lock key held while a worker migrates ``schema``: workers of one
    deployment starting together migrate once, and a deployment's migration (minutes, on
    a large database) does not hold up another's start."""
    if schema == LEGACY_SCHEMA:
        return MIGRATION_LOCK
    return _key(_scoped("bridgebot migration", schema))


def channel(schema: str) -> str:
    """The LISTEN/NOTIFY channel of the deployment in ``schema``: an identifier of 41 bytes
    at most (PostgreSQL's limit is 63; a schema's name alone may fill it), of lowercase
    letters, digits and ``_`` only, so it reads the same quoted or not."""
    if schema == LEGACY_SCHEMA:
        return CHANNEL
    return f"{CHANNEL}_{hashlib.sha256(schema.encode()).hexdigest()[:24]}"
