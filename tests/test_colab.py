"""Colab readiness: a chapter runs from a wheel of the library alone, in an empty folder, with nothing downloaded.

Colab starts with a notebook and nothing else: no checkout, no ``data/``, no ``checkpoints/``.  This builds a wheel
of the library, unpacks it into a temporary ``site`` folder that shadows the editable install, and executes
chapter 1 (smoke profile) in a fresh kernel in an empty temporary directory, with downloads pointed at a missing
address, so that any read of a repository file, or any download, fails the test.  It also checks what every
chapter's first code cell promises: install only when the library is missing, quietly, without touching torch.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def _first_code_cell(nb: Path) -> str:
    cells = json.loads(nb.read_text())["cells"]
    return "".join(next(c for c in cells if c["cell_type"] == "code")["source"])


def test_every_install_cell_is_idempotent_quiet_and_keeps_torch():
    for nb in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        src = _first_code_cell(nb)
        assert 'find_spec("styleinv_lib") is None' in src, f"{nb.name}: installs even when the library is there"
        assert '"-q"' in src, f"{nb.name}: the install must be quiet"
        assert "torch" not in src.split("check_call")[-1], f"{nb.name}: the install must not ask for torch itself"


def test_chapter_1_runs_from_a_wheel_in_an_empty_folder(tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w",
                    str(wheels), str(ROOT)], check=True, capture_output=True, timeout=600)
    wheel = next(wheels.glob("styleinv_lib-*.whl"))
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site), str(wheel)],
                   check=True, capture_output=True, timeout=600)
    assert not (site / "checkpoints").exists() and (site / "styleinv_lib" / "metrics" / "weights").is_dir()

    work = tmp_path / "colab"
    work.mkdir()
    nb = nbformat.read(ROOT / "notebooks" / "01_video_data.ipynb", as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell("import styleinv_lib; print('LIBRARY', styleinv_lib.__file__)"))
    monkeypatch.setenv("PYTHONPATH", str(site))                   # the wheel shadows the editable install
    monkeypatch.setenv("STYLEINV_PROFILE", "smoke")
    monkeypatch.setenv("STYLEINV_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("STYLEINV_CHECKPOINT_URL", (tmp_path / "nowhere").as_uri() + "/")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    client = nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                                     resources={"metadata": {"path": str(work)}})
    client.execute()
    last = "".join(o.get("text", "") for o in nb.cells[-1].outputs)
    assert f"LIBRARY {site / 'styleinv_lib' / '__init__.py'}" in last, f"the kernel imported another copy: {last}"
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors
    assert not (tmp_path / "cache" / "checkpoints").exists(), "chapter 1 downloaded a checkpoint"
