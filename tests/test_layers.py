"""The layers stay apart: the core names no database or platform, and only store/ has SQL.

Issue 19 puts a second database behind the core's ports (core/ports.py), and every
platform lives in its own adapter package; both only work while the core imports
neither. These checks read the source, so they fail on the commit that breaks a rule.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "bridgebot"

# What the core must not import: databases, platform clients, and the packages that hold them.
FORBIDDEN_IN_CORE = ("aiosqlite", "sqlite3", "asyncpg", "psycopg", "discord", "telegram",
                     "bridgebot.store", "bridgebot.adapters", "bridgebot.sandbox")

# A string that reads like a SQL statement (keywords as SQL is written in this codebase:
# upper case). Sentences for people ("Select a topic from...") do not match.
SQL = re.compile(
    r"\bSELECT\b[\s\S]*\bFROM\b|\bINSERT\s+(?:OR\s+\w+\s+)?INTO\b|\bUPDATE\s+\w+\s+SET\b"
    r"|\bDELETE\s+FROM\b|\b(?:CREATE|ALTER|DROP)\s+(?:TABLE|INDEX|VIEW)\b|\bPRAGMA\s+\w+"
    r"|\bBEGIN(?:\s+(?:IMMEDIATE|EXCLUSIVE|DEFERRED|TRANSACTION))?\s*;?\s*$|\bON\s+CONFLICT\b"
)


def forbidden_imports(source: str) -> list[str]:
    """Modules ``source`` imports (anywhere, TYPE_CHECKING blocks included) that the core
    must not."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found += [name for name in names
                  if any(name == bad or name.startswith(bad + ".") for bad in FORBIDDEN_IN_CORE)]
    return found


def sql_strings(source: str) -> list[str]:
    """String literals in ``source`` that read like SQL (an f-string's placeholders read
    as a name, so ``f"UPDATE {table} SET ..."`` is caught)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.JoinedStr):
            text = "".join(v.value if isinstance(v, ast.Constant) and isinstance(v.value, str)
                           else "name" for v in node.values)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value
        else:
            continue
        if SQL.search(text):
            found.append(text)
    return found


def _modules(where: Path) -> list[Path]:
    return sorted(where.rglob("*.py"))


def test_the_checks_catch_planted_examples():
    """The checks below must be able to fail: each planted breach is found."""
    assert forbidden_imports("import aiosqlite\n") == ["aiosqlite"]
    assert forbidden_imports("from sqlite3 import Row\n") == ["sqlite3"]
    assert forbidden_imports("import discord.http\n") == ["discord.http"]
    assert forbidden_imports("from telegram import Bot\n") == ["telegram"]
    assert forbidden_imports("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                             "    from bridgebot.store.repo import Store\n") == ["bridgebot.store.repo"]
    assert forbidden_imports("from bridgebot.adapters.discord import render\n")
    assert forbidden_imports("import discordant\nfrom bridgebot.core import models\n") == []
    assert sql_strings('q = "SELECT id FROM posts WHERE topic_id = ?"\n')
    assert sql_strings('q = f"UPDATE {table} SET text = ? WHERE id = ?"\n')
    assert sql_strings('q = f"SELECT {columns} " f"FROM topics"\n')
    assert sql_strings('q = "INSERT OR IGNORE INTO lock_notices (topic_id) VALUES (?)"\n')
    assert sql_strings('conn.execute("BEGIN IMMEDIATE")\n')
    assert sql_strings('q = "DELETE FROM aliases WHERE bridge = ?"\n')
    assert not sql_strings('t("Select a topic from the list, then update it.")\n')
    assert not sql_strings('t("/lock closes the topic; delete from your chat what you wish.")\n')


@pytest.mark.parametrize("module", _modules(PACKAGE / "core"), ids=lambda p: p.name)
def test_the_core_imports_no_database_and_no_platform(module: Path):
    assert forbidden_imports(module.read_text(encoding="utf-8")) == [], (
        f"{module.relative_to(PACKAGE.parent)}: the core asks for storage through "
        "core/ports.py and for platforms through core/adapter.py"
    )


def test_only_the_store_holds_sql():
    offenders = {}
    for module in _modules(PACKAGE):
        if (PACKAGE / "store") in module.parents:
            continue
        found = sql_strings(module.read_text(encoding="utf-8"))
        if found:
            offenders[str(module.relative_to(PACKAGE.parent))] = found
    assert offenders == {}, "SQL belongs in bridgebot/store (behind the core's ports)"


def test_the_store_itself_is_seen_to_hold_sql():
    """Against a check that silently matches nothing: the store's SQL is recognised."""
    assert sql_strings((PACKAGE / "store" / "repo.py").read_text(encoding="utf-8"))
    assert sql_strings((PACKAGE / "store" / "db.py").read_text(encoding="utf-8"))
