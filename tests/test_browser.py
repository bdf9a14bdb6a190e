"""The SpectrumExplorer in a real browser: JupyterLab + Chromium, driven by Playwright.

The other widget tests check the Python side only; this one proves that the frontend
extensions (ipywidgets, bqplot) load, that the figure renders and that a slider moved by the
keyboard redraws the spectrum after the round trip through the kernel. It needs the system
Chromium (``/usr/bin/chromium``; Playwright's own browser downloads are not used). Without it the
test skips, except under ``CI=true`` where it must run.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import nbformat
import pytest

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
NOTEBOOK = "explorer.ipynb"
ARTIFACTS_ENV = "SPECTRAL_CVAE_ARTIFACTS"
"""Folder where the screenshot is also copied when set (CI keeps it)."""

CELLS = [
    # A tiny model on a coarse toy grid: a few seconds of training, so the test measures the
    # widgets rather than the fit.
    """\
import numpy as np

from spectral_cvae.grid import SpectralGrid, uniform_grid
from spectral_cvae.grid.toy import toy_base_parameters, toy_spectrum
from spectral_cvae.model import CVAEConfig, train
from spectral_cvae.widgets import SpectrumExplorer

wavelength = uniform_grid(4840.0, 5200.0, 0.5)
base = toy_base_parameters(48, 0)
flux = np.stack([toy_spectrum(wavelength, *row) for row in base]).astype(np.float32)
rng = np.random.default_rng(0)
parameters = np.column_stack(
    [base[:, 0], base[:, 1], rng.uniform(0, 300, 48), base[:, 2], base[:, 3]]
    + [rng.uniform(1000, 115000, 48)]
)
grid = SpectralGrid(wavelength, flux, parameters)
config = CVAEConfig.preset(
    "demo", encoder_units=(32, 16), decoder_units=(16, 32), latent_dim=4, batch_size=8, epochs=1
)
generator = train(grid, config, seed=0, verbose=0)""",
    "SpectrumExplorer(generator, grid)",
]

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


def _require_browser():
    """Playwright's sync API, or a skip (a failure under CI=true) when the browser is missing."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sync_playwright = None
    missing = [
        what
        for what, absent in [("playwright", sync_playwright is None), (str(CHROMIUM), not CHROMIUM.exists())]
        if absent
    ]
    if missing:
        reason = f"browser test needs {' and '.join(missing)} (apt-get install chromium)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return sync_playwright


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


@pytest.fixture
def lab(tmp_path):
    """A JupyterLab server on a free port with a token, everything under ``tmp_path``.

    Yields the URL of the notebook page. The server runs in its own process group, so the
    kernel it starts is killed with it.
    """
    root = tmp_path / "root"
    root.mkdir()
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in CELLS])
    # The kernel name the server knows: no kernel-picker dialog on opening.
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, root / NOTEBOOK)

    home = tmp_path / "lab-home"
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
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_for_server(f"{base}/api/status?token={token}", process)
        yield f"{base}/lab/tree/{NOTEBOOK}?token={token}"
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
    sync_playwright = _require_browser()
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
            yield context.new_page()
        finally:
            context.close()


def test_explorer_renders_and_a_slider_redraws_the_spectrum(page, lab, tmp_path):
    # ``page`` comes first: a missing browser skips before a server is started.
    page.set_default_timeout(45_000)
    page.goto(lab)
    # "idle" alone can come before the kernel's comms are attached, and Run All then does
    # nothing: the debugger button is enabled only once the kernel really is connected.
    page.wait_for_selector('.jp-DebuggerBugButton[aria-disabled="false"]')
    page.wait_for_selector('.jp-Notebook-ExecutionIndicator[data-status="idle"]')
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()

    page.wait_for_selector(".bqplot svg.svg-figure")
    assert page.get_by_text("Error displaying widget").count() == 0

    # Marks of the spectrum figure, in order: the band (two curves), the z = 0 line, the
    # nearest grid spectrum.
    curves = page.locator(".bqplot").first.locator("g.curve path.line")
    line = curves.nth(2)
    line.wait_for(state="attached")
    before = line.get_attribute("d")
    assert before

    teff = page.locator(".widget-slider .noUi-handle[role=slider]").first
    start_value = teff.get_attribute("aria-valuenow")
    teff.focus()
    start = time.perf_counter()
    for _ in range(5):
        teff.press("ArrowRight")
    page.wait_for_function(
        "([path, before]) => path.getAttribute('d') !== before",
        arg=[line.element_handle(), before],
        polling="raf",
    )
    latency = time.perf_counter() - start

    assert teff.get_attribute("aria-valuenow") != start_value

    # The notebook panel scrolls inside the page: bring the spectrum figure into the shot.
    page.locator(".bqplot").first.scroll_into_view_if_needed()
    screenshot = tmp_path / "explorer.png"
    page.screenshot(path=str(screenshot))
    artifacts = os.environ.get(ARTIFACTS_ENV)
    if artifacts:
        Path(artifacts).mkdir(parents=True, exist_ok=True)
        shutil.copy(screenshot, Path(artifacts) / screenshot.name)
    print(f"slider to redraw: {1000 * latency:.0f} ms; screenshot: {screenshot}")
    assert page.get_by_text("Error displaying widget").count() == 0
