"""Docker secrets: ``BRIDGEBOT_TELEGRAM__TOKEN_FILE=/run/secrets/telegram_token``.

The convention of the official Docker images: any ``BRIDGEBOT_…`` variable may instead be
given as ``…_FILE`` naming a file that holds the value (a compose or swarm secret, mounted
under ``/run/secrets``), so a token need not sit in the environment, where ``docker
inspect`` shows it. The file's content is the value, without its final newline.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from pydantic_settings import EnvSettingsSource

SUFFIX = "_FILE"


class SecretFileError(ValueError):
    """A ``…_FILE`` variable that cannot be used; the message names it and the file."""


def values_from_files(env: Mapping[str, str | None], prefix: str) -> dict[str, str]:
    """``{NAME: content}`` for every ``NAME_FILE`` variable of ``env`` under ``prefix``
    (names as ``env`` spells them)."""
    found: dict[str, str] = {}
    for key, path in env.items():
        if not key.lower().startswith(prefix.lower()) or not key.upper().endswith(SUFFIX) or path is None:
            continue
        name = key[: -len(SUFFIX)]
        if env.get(name) is not None:
            raise SecretFileError(f"both {name.upper()} and {key.upper()} are set; keep one")
        try:
            value = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            raise SecretFileError(f"{key.upper()} names {path}, which cannot be read "
                                  f"({getattr(err, 'strerror', None) or err.__class__.__name__})") from None
        value = value[:-1] if value.endswith("\n") else value
        if not value.strip():
            raise SecretFileError(f"{key.upper()} names {path}, which is empty")
        found[name] = value
    return found


class EnvWithSecretFiles(EnvSettingsSource):
    """The environment source, with each ``…_FILE`` variable replaced by its file's content."""

    def _load_env_vars(self) -> Mapping[str, str | None]:
        env = dict(super()._load_env_vars())
        from_files = values_from_files(env, self.env_prefix)
        for name in from_files:
            env.pop(name + SUFFIX, None)
            env.pop((name + SUFFIX).lower(), None)
        env.update(from_files)
        return env
