"""Promises about the code's shape: the core is platform-free; CI runs the README's command."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PLATFORM_LIBRARIES = {"discord", "slack_bolt", "slack_sdk", "aiohttp"}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_the_core_imports_no_platform_library():
    offenders = {
        str(path.relative_to(ROOT)): sorted(imported_modules(path) & PLATFORM_LIBRARIES)
        for path in (ROOT / "bot").rglob("*.py")
        if imported_modules(path) & PLATFORM_LIBRARIES
    }
    assert offenders == {}


def test_the_core_does_not_import_adapters():
    offenders = [str(p.relative_to(ROOT)) for p in (ROOT / "bot").rglob("*.py") if "adapters" in imported_modules(p)]
    assert offenders == []


def quick_start_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Quick start", 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, re.S).group(1)
    return [line for line in block.splitlines() if line.strip()]


def test_readme_quick_start_has_exactly_two_commands_and_ci_runs_the_second():
    run_command, test_command = quick_start_commands()
    assert run_command.endswith("aula console")
    ci_lines = [ln for ln in (ROOT / ".ci" / "run").read_text().splitlines() if ln and not ln.startswith(("#", "set ", "cd "))]
    # CI first starts a throwaway PostgreSQL for the tests that need one, then runs exactly the
    # README's command, unlimited, as its last line (its exit status is CI's).
    assert ci_lines[-1] == test_command and ci_lines.count(test_command) == 1
    assert "export CI=true" in ci_lines and any(ln.startswith("export AULA_TEST_POSTGRES=") for ln in ci_lines)
