"""README's test command is the one CI runs, and it runs every check (lint, types, tests)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def readme_test_command() -> str:
    """The code block that follows "Set up and run the tests" in README.md."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    found = re.search(r"Set up and run the tests[^\n]*\n+```sh\n(.*?)\n```", readme, re.S)
    assert found, "README.md has lost its test command"
    return found.group(1).strip()


def ci_command() -> str:
    lines = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    commands = [line for line in lines
                if line.strip() and not line.startswith(("#", "set ", "cd "))]
    assert len(commands) == 1, f".ci/run should run one command line, not {commands}"
    return commands[0].strip()


def test_readme_shows_exactly_what_ci_runs():
    assert readme_test_command() == ci_command()


def test_the_test_command_lints_type_checks_and_tests():
    command = ci_command()
    steps = [step.strip() for step in command.split("&&")]
    assert ".venv/bin/ruff check" in steps
    assert ".venv/bin/mypy" in steps
    assert ".venv/bin/pytest" in steps[-1]
    assert steps.index(".venv/bin/mypy") < len(steps) - 1, "types are checked before the tests"
