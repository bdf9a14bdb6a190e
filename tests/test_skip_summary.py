"""The test run ends by naming the tools whose absence skipped tests, and how to install them."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from .helpers import skipped_for_missing_tools


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


def _running_conftest(config):
    """The tests' conftest.py as this pytest run loaded it (its hooks, not a second import)."""
    here = Path(__file__).with_name("conftest.py")
    plugins = [
        plugin
        for plugin in config.pluginmanager.get_plugins()
        if getattr(plugin, "__file__", None) and Path(plugin.__file__) == here
    ]
    assert len(plugins) == 1, "tests/conftest.py is not registered with this run"
    return plugins[0]


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


def test_the_runs_summary_names_each_missing_tool_once_and_is_silent_without_one(pytestconfig):
    summary = _running_conftest(pytestconfig).pytest_terminal_summary
    reporter = _Reporter([_skipped("browser test needs playwright and /usr/bin/chromium")] * 3)
    summary(reporter, 0, pytestconfig)
    assert reporter.lines == [
        "== skipped for a missing tool ==",
        "3 test(s) need Chromium; to run them: apt-get install -y chromium",
    ]
    quiet = _Reporter([_skipped("no gradient helper for the numpy backend")])
    summary(quiet, 0, pytestconfig)
    assert quiet.lines == []
