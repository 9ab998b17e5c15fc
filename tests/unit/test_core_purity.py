"""The pure core imports nothing of Django, Celery, Redis or the rest of the project (DESIGN.md, "Layout")."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

CORE = Path(__file__).resolve().parents[2] / "scheduling" / "core"
#: Top-level packages the core may not import: the frameworks, the drivers and every app of the project.
FORBIDDEN = ("django", "celery", "kombu", "redis", "rest_framework", "psycopg", "project", "orchestrator", "workers")


def imported_modules(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def test_core_modules_import_only_the_standard_library_croniter_and_the_core():
    modules = sorted(CORE.glob("*.py"))
    assert len(modules) >= 5, modules
    for path in modules:
        for name in imported_modules(path):
            top = name.split(".")[0]
            assert top not in FORBIDDEN, f"{path.name} imports {name}"
            if top == "scheduling":
                assert name.startswith("scheduling.core"), f"{path.name} imports {name}, outside the core"


def test_importing_the_core_loads_no_framework():
    code = (
        "import sys, pkgutil, importlib, scheduling.core as core\n"
        "for m in pkgutil.iter_modules(core.__path__): importlib.import_module('scheduling.core.' + m.name)\n"
        f"bad = sorted(n for n in sys.modules if n.split('.')[0] in {FORBIDDEN!r})\n"
        "bad += sorted(n for n in sys.modules if n.startswith('scheduling.') and not n.startswith('scheduling.core'))\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "", f"importing the core loaded: {result.stdout.strip()}"
