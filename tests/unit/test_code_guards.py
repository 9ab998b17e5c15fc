"""A guard over the product's source: no ``eval``/``exec``, no pickle (or marshal/shelve), no
unsafe YAML loader, no shell, and no HTML marked safe from a non-literal; templates never turn
autoescaping off. (The behaviour is tested at each door; this stops a new call slipping in.)
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("project", "scheduling", "orchestrator", "workers")
BANNED_MODULES = {"pickle", "cPickle", "dill", "marshal", "shelve", "jsonpickle"}
BANNED_CALLS = {
    "eval",
    "exec",
    "os.system",
    "os.popen",
    "yaml.load",
    "yaml.load_all",
    "yaml.unsafe_load",
    "yaml.full_load",
    "yaml.UnsafeLoader",
    "yaml.Loader",
    "yaml.FullLoader",
    "subprocess.getoutput",
    "subprocess.getstatusoutput",
}
MARKERS = {"mark_safe", "SafeString"}


def sources() -> list[Path]:
    files = [path for package in PACKAGES for path in (ROOT / package).rglob("*.py") if "migrations" not in path.parts]
    assert len(files) > 50, files
    return files


def dotted(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{dotted(node.value)}.{node.attr}"
    return ""


def problems_in(path: Path) -> list[str]:
    found = []
    tree = ast.parse(path.read_text(), filename=str(path))
    shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path.name
    for node in ast.walk(tree):
        where = f"{shown}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.Import | ast.ImportFrom):
            names = [alias.name for alias in node.names] + ([node.module] if isinstance(node, ast.ImportFrom) else [])
            found += [f"{where}: imports {name}" for name in names if name and name.split(".")[0] in BANNED_MODULES]
        if isinstance(node, ast.Call | ast.Attribute | ast.Name):
            name = dotted(node.func) if isinstance(node, ast.Call) else dotted(node)
            if name in BANNED_CALLS and (isinstance(node, ast.Call) or name.startswith("yaml.")):
                found.append(f"{where}: uses {name}")
        if isinstance(node, ast.Call):
            for keyword in node.keywords:
                if keyword.arg == "shell" and not (isinstance(keyword.value, ast.Constant) and not keyword.value.value):
                    found.append(f"{where}: shell={ast.unparse(keyword.value)}")
            if dotted(node.func).split(".")[-1] in MARKERS and not all(isinstance(a, ast.Constant) for a in node.args):
                found.append(f"{where}: {dotted(node.func)} of a non-literal")
    return found


def test_no_eval_pickle_shell_or_unsafe_yaml_in_the_product():
    found = [problem for path in sources() for problem in problems_in(path)]
    assert not found, "\n".join(found)


def test_the_guard_catches_what_it_looks_for(tmp_path: Path):
    bad = tmp_path / "probe.py"
    bad.write_text(
        "import pickle\nimport os, subprocess, yaml\nfrom django.utils.safestring import mark_safe\n"
        "eval(x)\nos.system(x)\nsubprocess.run(x, shell=True)\nyaml.load(x, Loader=yaml.Loader)\nmark_safe(x)\n"
    )
    found = problems_in(bad)
    assert len(found) == 8, found  # yaml.load and yaml.Loader count apart


def test_templates_never_turn_autoescaping_off():
    templates = [path for package in PACKAGES for path in (ROOT / package).rglob("*.html")]
    assert templates
    found = []
    for path in templates:
        text = path.read_text()
        if re.search(r"{%\s*autoescape\s+off", text):
            found.append(f"{path.relative_to(ROOT)}: autoescape off")
        # |safe only on text the code wrote (help texts), never on a value a user typed.
        found += [
            f"{path.relative_to(ROOT)}: {m.group(0)}"
            for m in re.finditer(r"{{\s*([\w.]+)\s*\|\s*safe", text)
            if not m.group(1).endswith("help_text")
        ]
    assert not found, found
