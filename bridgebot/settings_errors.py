"""Settings errors as one line: the key, where its value came from, and the form expected.

``BRIDGEBOT_DISCORD__GUILDS=abc`` used to read ``error parsing value for field "discord" from
source "EnvSettingsSource"``; now ``discord.guilds (environment variable
BRIDGEBOT_DISCORD__GUILDS): expected a JSON list of whole numbers, e.g. [123456789012345678]``.
Values are never shown (a token may be the wrong value).
"""

from __future__ import annotations

import json
import os
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, get_args, get_origin

from pydantic import BaseModel, SecretStr, ValidationError

PREFIX = "BRIDGEBOT_"

# The form a value of each simple type takes, in words.
_FORMS: dict[object, str] = {int: "a whole number", str: "text", bool: "true or false",
                             float: "a number", Path: "a file path", SecretStr: "text"}


def _unwrap(annotation: Any) -> Any:
    """``X | None`` -> ``X``."""
    if get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def annotation_at(model: type[BaseModel], path: Sequence[str | int]) -> Any:
    """The type of the setting at ``path`` (``("discord", "guilds")``), or None if unknown."""
    current: Any = model
    for part in path:
        current = _unwrap(current)
        if isinstance(part, int):
            if get_origin(current) in (list, tuple, set):
                current = get_args(current)[0] if get_args(current) else Any
                continue
            return None
        if isinstance(current, type) and issubclass(current, BaseModel) and part in current.model_fields:
            current = current.model_fields[part].annotation
        elif get_origin(current) is dict:
            current = get_args(current)[1] if get_args(current) else Any
        else:
            return None
    return _unwrap(current)


def expected_form(annotation: Any, *, env: bool) -> str:
    """How a value of ``annotation`` is written (as JSON when it comes from a variable)."""
    json_ = "a JSON " if env else "a "
    origin = get_origin(annotation)
    if origin is typing.Literal:
        return "one of " + ", ".join(f'"{a}"' for a in get_args(annotation))
    if origin in (list, tuple, set):
        item = _unwrap(get_args(annotation)[0]) if get_args(annotation) else Any
        if item is int:
            return f"{json_}list of whole numbers, e.g. [123456789012345678]"
        if item is str:
            return f'{json_}list of texts, e.g. ["telegram:12345"]'
        if isinstance(item, type) and issubclass(item, BaseModel):
            return f'{json_}list of tables, e.g. [{{"name": "allies", ...}}]'
        return f"{json_}list"
    if origin is dict:
        return f'{json_}table of texts, e.g. {{"-1001234567890": "ar"}}'
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return f"{json_}table of settings" if env else "a [section] of settings"
    return _FORMS.get(annotation, "a value of the documented form (config/bridgebot.example.toml)")


def _dotenv(path: Path = Path(".env")) -> dict[str, str]:
    try:
        from dotenv import dotenv_values

        return {k.upper(): v or "" for k, v in dotenv_values(path).items()} if path.is_file() else {}
    except Exception:  # an unreadable .env is reported by the settings themselves
        return {}


def source_of(path: Sequence[str | int], toml_file: Path | None,
              environ: Mapping[str, str]) -> tuple[str, bool]:
    """Where the value at ``path`` was read: (description, whether it came from a variable)."""
    names = [str(p) for p in path if not isinstance(p, int)]
    upper = {k.upper(): k for k in environ}
    dotenv = _dotenv()
    for i in range(len(names), 0, -1):
        name = PREFIX + "__".join(names[:i]).upper()
        if name in upper:
            return f"environment variable {name}", True
        if name + "_FILE" in upper:
            return f"the file {environ[upper[name + '_FILE']]} named by {name}_FILE", True
        if name in dotenv:
            return f"{name} in {Path('.env').resolve()}", True
    if toml_file is not None:
        return f"{toml_file}", False
    return "the defaults", False


def _problem(error: Mapping[str, Any], annotation: Any, env: bool) -> str:
    kind, message = error["type"], str(error["msg"])
    if kind == "missing":
        return "is required but not set"
    if kind == "extra_forbidden":
        return "is not a known setting (check the spelling; config/bridgebot.example.toml lists them)"
    if kind.startswith("value_error"):
        return message.removeprefix("Value error, ")
    if kind.startswith(("greater_than", "less_than", "too_short", "too_long", "string_too")):
        return message.replace("Input should be", "should be")
    return f"expected {expected_form(annotation, env=env)}" if annotation is not None else message


def describe_validation(err: ValidationError, model: type[BaseModel], toml_file: Path | None,
                        environ: Mapping[str, str] | None = None) -> str:
    """Every problem of ``err`` as ``key (source): problem``, joined in one line."""
    environ = os.environ if environ is None else environ
    parts = []
    for error in err.errors(include_input=False, include_url=False):
        loc = tuple(error["loc"])
        key = ".".join(str(p) for p in loc) or "(top level)"
        source, env = source_of(loc if error["type"] != "missing" else loc[:-1], toml_file, environ)
        if error["type"] == "missing" and source == "the defaults":
            source = "not set anywhere"
        annotation = annotation_at(model, loc)
        parts.append(f"{key} ({source}): {_problem(error, annotation, env)}")
    return "; ".join(parts)


def describe_env_parse_error(model: type[BaseModel], environ: Mapping[str, str] | None = None) -> str | None:
    """A variable holding a list or table must be JSON: name the one that is not."""
    environ = os.environ if environ is None else environ
    for name in sorted(environ):
        if not name.upper().startswith(PREFIX) or name.upper().endswith("_FILE"):
            continue
        path = name.upper().removeprefix(PREFIX).lower().split("__")
        annotation = annotation_at(model, path)
        structured = get_origin(annotation) in (list, tuple, set, dict) or (
            isinstance(annotation, type) and issubclass(annotation, BaseModel))
        if annotation is None or not structured:
            continue
        try:
            json.loads(environ[name])
        except ValueError:
            return (f"{'.'.join(path)} (environment variable {name.upper()}): expected "
                    f"{expected_form(annotation, env=True)}")
    return None
