"""Colab readiness: a chapter runs from a wheel of the library alone, in an empty folder, with nothing downloaded
but the committed checkpoints.

``make test`` executes every chapter once, through nbval, in that Colab-like runtime (``notebooks/conftest.py`` and
``notebooks/_colab_runtime.py``): a wheel of the working tree shadowing the editable install, an empty working
folder, ``checkpoint_path``'s downloads served from the checkout (chapter 1's address points nowhere).  The tests
here check the runtime itself, so that a chapter passing nbval means it runs on Colab, and what every chapter's
first code cell promises: install only when the library is missing, quietly, without touching torch.
"""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def _runtime():
    spec = importlib.util.spec_from_file_location("colab_runtime", ROOT / "notebooks" / "_colab_runtime.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _first_code_cell(nb: Path) -> str:
    cells = json.loads(nb.read_text())["cells"]
    return "".join(next(c for c in cells if c["cell_type"] == "code")["source"])


def test_every_install_cell_is_idempotent_quiet_and_keeps_torch():
    for nb in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        src = _first_code_cell(nb)
        assert 'find_spec("styleinv_lib") is None' in src, f"{nb.name}: installs even when the library is there"
        assert '"-q"' in src, f"{nb.name}: the install must be quiet"
        assert "torch" not in src.split("check_call")[-1], f"{nb.name}: the install must not ask for torch itself"


PROBE = """\
import os, styleinv_lib
from styleinv_lib.loading import checkpoint_path
assert os.listdir(".") == [], f"not an empty folder: {os.listdir('.')}"
assert os.sep + "site" + os.sep in styleinv_lib.__file__, f"not the wheel: {styleinv_lib.__file__}"
path = checkpoint_path("encoder_synthfaces32_v2_cpu.safetensors")
assert os.environ["STYLEINV_CACHE"] in str(path), f"not downloaded: {path}"
"""


def test_nbval_runs_each_chapter_in_a_colab_kernel(tmp_path):
    """pytest --nbval-lax with notebooks/conftest.py, on two probe chapters: chapter 99 starts in an empty folder,
    imports the wheel and downloads a committed checkpoint; chapter 1's same cell fails, since its downloads point
    nowhere."""
    nbformat = pytest.importorskip("nbformat")
    for name in ("99_probe.ipynb", "01_probe.ipynb"):
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(PROBE)])
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nbformat.write(nb, tmp_path / name)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_XDIST")}   # not one of our workers
    env["PYTHONPATH"] = str(ROOT / "notebooks")
    done = subprocess.run([sys.executable, "-m", "pytest", "--nbval-lax", "-p", "conftest", "-p", "no:cacheprovider",
                           "-q", "--rootdir", str(tmp_path), "-c", os.devnull, str(tmp_path)],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    tail = done.stdout[-3000:]
    assert "1 failed, 1 passed" in tail, tail
    # Under CI (the CI variable set) pytest prints the failure's whole message after "FAILED", so the name is
    # looked for in all of stdout, not in its tail.
    assert "FAILED 01_probe.ipynb::Cell 0" in done.stdout and "FileNotFoundError" in done.stdout, tail


def test_the_colab_kernel_refuses_to_start_on_another_copy_of_the_library(tmp_path):
    """Without the wheel first on the path the editable install would answer: the launcher names what it found.
    (It compares paths only, so an empty folder stands for the wheel's.)"""
    rt = _runtime()
    wheel_site = tmp_path / "site"
    wheel_site.mkdir()
    env = dict(os.environ, PYTHONPATH="", **{rt.SITE_ENV: str(wheel_site), rt.WORKDIR_ENV: str(tmp_path)})
    launcher = ROOT / "notebooks" / "_colab_runtime.py"
    done = subprocess.run([sys.executable, str(launcher), "-f", str(tmp_path / "c.json")],
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and f"not to the wheel in {wheel_site}" in done.stderr, done.stderr
