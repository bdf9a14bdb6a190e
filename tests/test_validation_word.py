""" "Validation" means the split's validation subset, as in Keras; input checks are checks and
the paper's measures of a model are its evaluation."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import spectral_cvae

ROOT = Path(spectral_cvae.__file__).parent.parent
PACKAGE = ROOT / "spectral_cvae"
VERB = re.compile(r"\bvalidat(e|es|ing)\b", re.IGNORECASE)
"""To validate is to check an input or to evaluate a model: say which."""


def test_no_module_function_or_class_is_named_for_validation():
    named = [p.relative_to(ROOT).as_posix() for p in PACKAGE.rglob("*validat*")]
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            is_definition = isinstance(node, ast.FunctionDef | ast.ClassDef)
            if is_definition and "validat" in node.name.lower():
                named.append(f"{path.relative_to(ROOT).as_posix()}:{node.lineno} {node.name}")
    assert not named, f"input checks are check_* in checks.py, model measures evaluation: {named}"


def test_the_verb_validate_is_not_used():
    folders = ("spectral_cvae", "docs", "notebooks", "benchmarks", "scripts")
    files = [ROOT / "README.md"] + [
        path
        for folder in folders
        for path in sorted((ROOT / folder).rglob("*"))
        if path.suffix in (".py", ".md", ".ipynb")
    ]
    used = [
        f"{path.relative_to(ROOT).as_posix()}:{number}"
        for path in files
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if VERB.search(line)
    ]
    assert not used, f"say check (an input) or evaluate (a model) instead: {used}"
