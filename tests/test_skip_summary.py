"""The test run ends by naming the tools whose absence skipped tests, and how to install them."""

from __future__ import annotations

from types import SimpleNamespace

from .conftest import pytest_terminal_summary, skipped_for_missing_tools


def _skipped(reason: str) -> SimpleNamespace:
    return SimpleNamespace(longrepr=("tests/test_x.py", 1, f"Skipped: {reason}"))


class _Reporter:
    def __init__(self, skipped: list) -> None:
        self.stats = {"skipped": skipped} if skipped else {}
        self.lines: list[str] = []

    def section(self, title: str, **markup) -> None:
        self.lines.append(f"== {title} ==")

    def write_line(self, line: str) -> None:
        self.lines.append(line)


def test_skips_for_missing_tools_are_counted_with_the_command_that_enables_them():
    reports = [
        _skipped("SYNSPEC is not installed: run `spectral-cvae synspec install` (needs gfortran)"),
        _skipped("SYNSPEC is not installed: run `spectral-cvae synspec install` (needs gfortran)"),
        _skipped("browser test needs /usr/bin/chromium (apt-get install chromium)"),
        _skipped("this Keras backend computes sin and cos of float64 in float32"),
    ]
    found = skipped_for_missing_tools(reports)
    assert found == {
        "SYNSPEC": ("apt-get install -y gfortran && spectral-cvae synspec install", 2),
        "Chromium": ("apt-get install -y chromium", 1),
    }


def test_the_summary_names_each_missing_tool_once_and_is_silent_without_one():
    reporter = _Reporter([_skipped("browser test needs playwright and /usr/bin/chromium")] * 3)
    pytest_terminal_summary(reporter, 0, None)
    assert reporter.lines == [
        "== skipped for a missing tool ==",
        "3 test(s) need Chromium; to run them: apt-get install -y chromium",
    ]
    quiet = _Reporter([_skipped("no gradient helper for the numpy backend")])
    pytest_terminal_summary(quiet, 0, None)
    assert quiet.lines == []
