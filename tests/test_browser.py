"""The notebook widgets in a real browser: JupyterLab + Chromium, driven by Playwright.

The other widget tests check the Python side only; these prove that the frontend extensions
(ipywidgets, bqplot) load, that the figures render and that browser input reaches the kernel
and comes back drawn: a slider of the SpectrumExplorer moved by the keyboard redraws the
spectrum, a mouse click on a cell of the ResidualMapViewer's heat map draws that bin's residual
spectra and a dropdown re-bins the map, the TrainingDashboard's Stop button ends a training
running in the background, the InverterPanel follows a typed test-spectrum number and a
change of source, and the FitPanel's Fit button fills its parameter table and draws the model. They need the system Chromium (``/usr/bin/chromium``;
Playwright's own browser downloads are not used). Without it they skip, except under
``CI=true`` where they must run.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest

try:
    from playwright.sync_api import expect, sync_playwright
except ImportError:  # the tests skip (fail under CI=true) in _require_browser
    expect = sync_playwright = None

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
]
ARTIFACTS_ENV = "SPECTRAL_CVAE_ARTIFACTS"
"""Folder where the screenshots are also copied when set (CI keeps it)."""

# 48 toy spectra on the paper's 19,000 wavelengths and the demo preset's network, as a user
# of the widgets has them.
GRID_CELL = """\
import numpy as np

from spectral_cvae.grid import SpectralGrid, paper_wavelength
from spectral_cvae.grid.toy import toy_base_parameters, toy_spectrum
from spectral_cvae.model import CVAEConfig, train
from spectral_cvae.widgets import (
    BackgroundTraining,
    ResidualMapViewer,
    SpectrumExplorer,
    TrainingDashboard,
)

wavelength = paper_wavelength()
base = toy_base_parameters(48, 0)
flux = np.stack([toy_spectrum(wavelength, *row) for row in base]).astype(np.float32)
rng = np.random.default_rng(0)
parameters = np.column_stack(
    [base[:, 0], base[:, 1], rng.uniform(0, 300, 48), base[:, 2], base[:, 3]]
    + [rng.uniform(1000, 115000, 48)]
)
grid = SpectralGrid(wavelength, flux, parameters)
config = CVAEConfig.preset("demo", batch_size=16, epochs=1)"""
# One epoch: the widgets' latency does not depend on how well the model is trained.
TRAIN_CELL = "generator = train(grid, config, seed=0, verbose=0)"

BLUE = "rgb(31, 119, 180)"
"""``#1f77b4``, the colour of ``SpectrumExplorer.line`` (and of its band) as the DOM gives it."""

pytestmark = [pytest.mark.slow, pytest.mark.timeout(150)]


def _require_browser() -> None:
    """Skip (fail under CI=true) when Playwright or the system Chromium is missing."""
    missing = [
        what
        for what, absent in [
            ("playwright", sync_playwright is None),
            (str(CHROMIUM), not CHROMIUM.exists()),
        ]
        if absent
    ]
    if missing:
        reason = f"browser test needs {' and '.join(missing)} (apt-get install chromium)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_server(url: str, process: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"jupyter lab exited with status {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"jupyter lab did not answer {url} within {timeout} s")


@dataclass(frozen=True)
class Lab:
    """A running JupyterLab server: the folder it serves and how to reach it."""

    root: Path
    base: str
    token: str

    def write_notebook(self, name: str, cells: list[str]) -> str:
        """Write ``cells`` as the code cells of notebook ``name``; return its page's URL."""
        notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
        # The kernel name the server knows: no kernel-picker dialog on opening.
        notebook.metadata["kernelspec"] = {
            "name": "python3",
            "display_name": "Python 3",
            "language": "python",
        }
        nbformat.write(notebook, self.root / name)
        return f"{self.base}/lab/tree/{name}?token={self.token}"


@pytest.fixture
def lab(tmp_path):
    """A JupyterLab server on a free port with a token, everything under ``tmp_path``.

    The server runs in its own process group, so the kernels it starts are killed with it.
    """
    root = tmp_path / "root"
    root.mkdir()
    home = tmp_path / "lab-home"
    settings = home / "settings"
    # Never ask about fetching Jupyter news: the toast would cover part of the screenshots.
    notification = settings / "@jupyterlab" / "apputils-extension"
    notification.mkdir(parents=True)
    (notification / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false"})
    )
    env = dict(
        os.environ,
        HOME=str(home),
        JUPYTER_CONFIG_DIR=str(home / "config"),
        JUPYTER_RUNTIME_DIR=str(home / "runtime"),
    )
    port, token = _free_port(), uuid.uuid4().hex
    log = (tmp_path / "lab.log").open("wb")
    process = subprocess.Popen(
        [
            sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
            "--ServerApp.port_retries=0", f"--ServerApp.token={token}",
            f"--ServerApp.root_dir={root}", "--allow-root",
            f"--LabApp.workspaces_dir={home / 'workspaces'}",
            f"--LabApp.user_settings_dir={settings}",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_for_server(f"{base}/api/status?token={token}", process)
        yield Lab(root, base, token)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        log.close()


@pytest.fixture
def page(tmp_path):
    """A page of a fresh headless Chromium (own profile, own HOME), closed afterwards."""
    _require_browser()
    home = tmp_path / "browser-home"
    home.mkdir()
    with sync_playwright() as playwright:
        # Debian's chromium writes under $HOME even with a temporary profile.
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "profile"),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            env=dict(os.environ, HOME=str(home)),
            viewport={"width": 1280, "height": 1200},
        )
        try:
            page = context.new_page()
            # Generous: the machine is shared and the first cell trains a model. ``expect``
            # has its own timeout (5 s by default).
            page.set_default_timeout(45_000)
            expect.set_options(timeout=30_000)
            yield page
        finally:
            context.close()


def _run_notebook(page, url: str) -> None:
    """Open the notebook at ``url``, run all its cells and wait for the first bqplot figure."""
    page.goto(url)
    # "idle" alone can come before the kernel's comms are attached, and Run All then does
    # nothing: the debugger button is enabled only once the kernel really is connected.
    page.wait_for_selector('.jp-DebuggerBugButton[aria-disabled="false"]')
    page.wait_for_selector('.jp-Notebook-ExecutionIndicator[data-status="idle"]')
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
    page.wait_for_selector(".bqplot svg.svg-figure")
    assert page.get_by_text("Error displaying widget").count() == 0


def _keep_screenshot(screenshot: Path) -> None:
    """Copy a screenshot to the artifacts folder, when one is set."""
    artifacts = os.environ.get(ARTIFACTS_ENV)
    if artifacts:
        Path(artifacts).mkdir(parents=True, exist_ok=True)
        shutil.copy(screenshot, Path(artifacts) / screenshot.name)


def test_explorer_renders_and_a_slider_redraws_the_spectrum(page, lab, tmp_path):
    # ``page`` comes first: a missing browser skips before a server is started.
    cells = [GRID_CELL, TRAIN_CELL, "SpectrumExplorer(generator, grid)"]
    _run_notebook(page, lab.write_notebook("explorer.ipynb", cells))

    # bqplot draws one <g> per mark, in the order of Figure.marks ([band, line, grid_line]
    # in explorer.py), and in it one g.curve per row of the Lines' y; the legend's paths lie
    # in g.g_legend, outside any g.curve.
    marks = page.locator(".bqplot").first.locator("g:has(> g.curve)")
    expect(marks).to_have_count(3)
    # The band: its lower and upper edges, filled between, strokes of width 0.
    expect(marks.nth(0).locator("g.curve")).to_have_count(2)
    line = marks.nth(1).locator("g.curve path.line")
    expect(line).to_have_count(1)
    # The z = 0 line: explorer.line's colour and stroke width, which the band does not have.
    assert line.evaluate("path => [path.style.stroke, path.style.strokeWidth]") == [BLUE, "1.2"]
    before = line.get_attribute("d")
    assert before

    teff = page.locator(".widget-slider .noUi-handle[role=slider]").first
    start_value = teff.get_attribute("aria-valuenow")
    teff.focus()
    # Timed in the page: from the key going down on the slider to the new path being set,
    # i.e. the round trip through the kernel (decoder runs for the line and its band) plus
    # bqplot's redraw, without the test driver's own overhead.
    page.evaluate(
        """([path, handle]) => {
            window.redrawMs = [];
            let pressed = null, before = path.getAttribute('d');
            handle.addEventListener('keydown', () => { pressed = performance.now(); });
            new MutationObserver(() => {
                const d = path.getAttribute('d');
                if (d !== before && pressed !== null) {
                    window.redrawMs.push(performance.now() - pressed);
                    before = d;
                    pressed = null;
                }
            }).observe(path, {attributes: true, attributeFilter: ['d']});
        }""",
        [line.element_handle(), teff.element_handle()],
    )
    presses = 5
    for n in range(1, presses + 1):
        teff.press("ArrowRight")
        page.wait_for_function("n => window.redrawMs.length >= n", arg=n)
    latencies = sorted(page.evaluate("window.redrawMs"))
    assert len(latencies) == presses  # every step redrew the spectrum
    assert teff.get_attribute("aria-valuenow") != start_value

    # The notebook panel scrolls inside the page: bring the spectrum figure into the shot.
    page.locator(".bqplot").first.scroll_into_view_if_needed()
    screenshot = tmp_path / "explorer.png"
    page.screenshot(path=str(screenshot))
    _keep_screenshot(screenshot)
    print(
        f"slider to redraw, {presses} key presses: median {latencies[presses // 2]:.0f} ms, "
        f"max {latencies[-1]:.0f} ms; screenshot: {screenshot}"
    )
    assert page.get_by_text("Error displaying widget").count() == 0


def test_residual_map_cell_click_draws_its_spectra_and_a_dropdown_rebins(page, lab, tmp_path):
    # Tall enough for the whole viewer (about 1,100 px) in one screenshot.
    page.set_viewport_size({"width": 1280, "height": 1600})
    cells = [GRID_CELL, TRAIN_CELL, "viewer = ResidualMapViewer(generator, grid)\nviewer"]
    _run_notebook(page, lab.write_notebook("residual_map.ipynb", cells))

    # The viewer's figures, top to bottom: heat map, the selected bin's spectra, marginal.
    viewer = page.locator(".jp-OutputArea-output", has=page.locator(".bqplot"))
    figures = viewer.locator(".bqplot")
    expect(figures).to_have_count(3)
    heat, bins = figures.nth(0), figures.nth(1)
    # GridHeatMap draws one rect.heatmapcell per bin: the default 14 x 12 bins.
    expect(heat.locator("rect.heatmapcell")).to_have_count(14 * 12)
    # Empty bins are drawn white (a crossed blank), never black like the low end of viridis.
    fills = heat.locator("rect.heatmapcell").evaluate_all(
        "cells => cells.map(c => getComputedStyle(c).fill)"
    )
    assert "rgb(255, 255, 255)" in fills and "rgb(0, 0, 0)" not in fills
    # The HTML right below the heat map is viewer.bin_label.
    bin_label = viewer.locator(".bqplot + .widget-html")
    expect(bin_label).to_have_text("Click a cell to see its residual spectra.")
    bin_curves = bins.locator("g.curve path.line")
    expect(bin_curves.first).to_be_hidden()

    # Only filled bins have a count label, at their centre: pick the first and its cell.
    count_label = heat.locator("text.label").first
    count = int(count_label.text_content())
    box = count_label.bounding_box()
    index = page.evaluate(
        """([x, y]) => {
            const cell = document.elementsFromPoint(x, y).find(e => e.matches('.heatmapcell'));
            return [...cell.closest('svg').querySelectorAll('.heatmapcell')].indexOf(cell);
        }""",
        [box["x"] + box["width"] / 2, box["y"] + box["height"] / 2],
    )
    # Click the middle of the cell, on its count: the label must let the click through to
    # the cell (bqplot 0.13.1 sends no click event for a Label).
    start = time.perf_counter()
    heat.locator("rect.heatmapcell").nth(index).click()
    expect(bin_curves.first).to_be_visible()
    latency = time.perf_counter() - start

    # A filled bin's text: "<x range>, <y range>: <count> spectra, mean |Delta F| ...".
    expect(bin_label).to_contain_text(re.compile(rf": {count} spectr(a|um), "))
    expect(bin_curves).to_have_count(min(count, 5))  # n_lines
    assert all(bin_curves.evaluate_all("paths => paths.map(p => p.getAttribute('d'))"))

    screenshot = tmp_path / "residual_map.png"
    viewer.screenshot(path=str(screenshot))
    _keep_screenshot(screenshot)

    # A new x parameter re-bins the map: the axis follows, the selection is cleared.
    x_label = heat.locator("text.axislabel").filter(has_text=re.compile(r"^Teff"))
    expect(x_label).to_have_count(1)
    viewer.get_by_label("x", exact=True).select_option(label="v sin i (km/s)")
    expect(heat.locator("text.axislabel", has_text="v sin i (km/s)")).to_have_count(1)
    expect(x_label).to_have_count(0)
    expect(bin_label).to_have_text("Click a cell to see its residual spectra.")
    expect(bin_curves.first).to_be_hidden()
    print(f"click to redraw: {1000 * latency:.0f} ms; screenshot: {screenshot}")
    assert page.get_by_text("Error displaying widget").count() == 0


def test_stop_on_the_dashboard_ends_a_background_training(page, lab, tmp_path):
    cells = [
        GRID_CELL,
        "dashboard = TrainingDashboard()\n"
        "run = BackgroundTraining(dashboard, grid, config.replace(epochs=500), seed=0)\n"
        "dashboard",
    ]
    _run_notebook(page, lab.write_notebook("dashboard.ipynb", cells))

    # The ETA label, once the first epoch is drawn: "epoch N/500, ... left ...".
    expect(page.get_by_text(re.compile(r"epoch \d+/500,"))).to_be_visible(timeout=90_000)
    curves = page.locator(".bqplot").first.locator("g.curve path.line")
    assert any(curves.evaluate_all("paths => paths.map(p => p.getAttribute('d'))"))

    # The click reaches the kernel while the training thread runs: no cell is busy.
    start = time.perf_counter()
    page.locator(".widget-button", has_text="Stop").click()
    ended = page.get_by_text(re.compile(r"stopped by the Stop button after \d+ epochs"))
    expect(ended).to_be_visible(timeout=60_000)
    latency = time.perf_counter() - start
    epochs = int(re.search(r"after (\d+) epochs", ended.text_content()).group(1))
    assert 1 <= epochs < 500

    screenshot = tmp_path / "dashboard.png"
    page.locator(".bqplot").first.scroll_into_view_if_needed()
    page.screenshot(path=str(screenshot))
    _keep_screenshot(screenshot)
    print(f"Stop to training ended: {1000 * latency:.0f} ms after {epochs} epochs; "
          f"screenshot: {screenshot}")
    assert page.get_by_text("Error displaying widget").count() == 0


def test_inverter_panel_answers_a_new_test_spectrum_and_the_generated_source(
    page, lab, tmp_path
):
    cells = [
        GRID_CELL,
        TRAIN_CELL,
        "from spectral_cvae.inversion import PCAInverter\n"
        "from spectral_cvae.widgets import InverterPanel\n"
        "inverter = PCAInverter(n_components=8, hidden=(32,), epochs=5).fit(grid)\n"
        "InverterPanel(inverter, generator, grid)",
    ]
    _run_notebook(page, lab.write_notebook("inverter.ipynb", cells))

    panel = page.locator(".jp-OutputArea-output", has=page.locator(".bqplot")).last
    table = panel.locator(".widget-html table")
    expect(table).to_contain_text("Teff")
    first = table.text_content()
    # Input and re-generated spectrum are drawn.
    paths = panel.locator(".bqplot g.curve path.line")
    assert sum(bool(d) for d in paths.evaluate_all("ps => ps.map(p => p.getAttribute('d'))")) >= 2

    # Another test spectrum, typed into the box as a person would.
    box = panel.get_by_label("test #")
    box.fill("1")
    box.press("Enter")
    expect(table).not_to_have_text(first)
    second = table.text_content()

    # The "generated" source: the truth column becomes the typed parameters.
    panel.get_by_role("button", name="generated", exact=True).click()
    expect(table).not_to_have_text(second)

    screenshot = tmp_path / "inverter.png"
    panel.scroll_into_view_if_needed()
    page.screenshot(path=str(screenshot))
    _keep_screenshot(screenshot)
    assert page.get_by_text("Error displaying widget").count() == 0


def test_fit_panel_fit_button_fills_the_parameter_table(page, lab, tmp_path):
    cells = [
        GRID_CELL,
        TRAIN_CELL,
        "from spectral_cvae.widgets import FitPanel\n"
        "panel = FitPanel(generator, grid)\n"
        "panel",
    ]
    _run_notebook(page, lab.write_notebook("fit.ipynb", cells))

    panel = page.locator(".jp-OutputArea-output", has=page.locator(".bqplot")).last
    figures = panel.locator(".bqplot")
    expect(figures).to_have_count(2)  # data and model; residual
    # The realistic test spectrum is drawn before any fit; the model is not.
    lines = figures.first.locator("g.curve path.line")
    data, model = lines.nth(0), lines.nth(1)
    expect(data).to_have_attribute("d", re.compile(r"^M"))
    table = panel.locator(".widget-html table")
    expect(table).to_have_count(0)

    start = time.perf_counter()
    # The button's accessible name starts with its icon's glyph: find it by its text.
    panel.locator("button.widget-button", has_text="Fit").click()
    # The fit runs in a thread: the table fills when it ends, the kernel answers meanwhile.
    expect(table).to_contain_text("radial velocity", timeout=120_000)
    latency = time.perf_counter() - start
    for text in ("Teff", "log g", "(fixed)", "(fit - truth) / error"):
        expect(table).to_contain_text(text)
    expect(panel.get_by_text(re.compile(r"reduced chi"))).to_have_count(1)
    expect(panel.get_by_text(re.compile(r"converged in [0-9.]+ s"))).to_be_visible()
    # The model and the residual are drawn now.
    expect(model).to_have_attribute("d", re.compile(r"^M"))
    residual = figures.nth(1).locator("g.curve path.line")
    expect(residual).to_have_attribute("d", re.compile(r"^M"))

    screenshot = tmp_path / "fit_panel.png"
    panel.scroll_into_view_if_needed()
    page.screenshot(path=str(screenshot))
    _keep_screenshot(screenshot)
    print(f"Fit click to table: {latency:.1f} s; screenshot: {screenshot}")
    assert page.get_by_text("Error displaying widget").count() == 0
