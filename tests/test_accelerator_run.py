"""scripts/accelerator_run.sh, in its tiny configuration: every step of the accelerator run."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parents[1] / "scripts" / "accelerator_run.sh"


@pytest.mark.slow
def test_accelerator_run_broadens_trains_and_reports_its_numbers(tmp_path):
    if importlib.util.find_spec("jax") is None:
        if os.environ.get("CI"):
            pytest.fail("CI installs jax (requirements/lock-jax.txt)")
        pytest.skip("jax is not installed")
    env = {
        **os.environ,
        "KERAS_BACKEND": "jax",
        "SPECTRAL_CVAE_RUN": "tiny",
        "RUN_SECONDS": "10",
        "PYTHON": sys.executable,
    }
    run = subprocess.run(
        ["bash", str(SCRIPT), str(tmp_path / "no-wheels")],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    out = run.stdout
    assert "on jax" in out
    assert re.search(r"broadened 12 base models to 48 spectra of 19000 pixels", out)
    assert re.search(r"trained \d+ epochs .* [\d.]+ steps/s of 8 after the first epoch", out)
    assert re.search(r"generation: [\d,]+ spectra/s at batch \d+; one spectrum [\d.]+ ms", out)
    median = float(re.search(r"test median \|Delta F\| = (\S+)", out).group(1))
    assert 0 < median < 0.5
