"""Docstrings and comments cite only documents a reader of the repository can open."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WRITTEN = {"report.md"}
"""Markdown files the package writes (not documents to read)."""


def test_the_package_cites_only_markdown_files_in_the_repository():
    missing = []
    for path in sorted((ROOT / "spectral_cvae").rglob("*.py")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for name in re.findall(r"[\w./-]+\.md\b", line):
                if name not in WRITTEN and not (ROOT / name).is_file():
                    missing.append(f"{path.relative_to(ROOT)}:{number}: {name}")
            if "MISSION" in line:
                missing.append(f"{path.relative_to(ROOT)}:{number}: MISSION")
    assert not missing, "cite the paper or the README instead:\n" + "\n".join(missing)
