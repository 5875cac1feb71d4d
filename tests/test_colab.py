"""Colab readiness: a chapter runs from a wheel of the library alone, in an empty folder, with nothing downloaded.

Colab starts with a notebook and nothing else: no checkout, no ``data/``, no ``checkpoints/``.  This builds a wheel
of the library, unpacks it into a temporary ``site`` folder that shadows the editable install, and executes
every chapter (smoke profile) in a fresh kernel in an empty temporary directory, so that any read of a repository
file fails the test; the committed checkpoints come only through ``checkpoint_path``'s download, served from the
checkout (chapter 1 must download nothing).  It also checks what every
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


CHAPTERS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


@pytest.fixture(scope="module")
def wheel_site(tmp_path_factory):
    """The library as a Colab user gets it: a wheel, unpacked into a folder that shadows the editable install."""
    tmp = tmp_path_factory.mktemp("wheel")
    wheels = tmp / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w",
                    str(wheels), str(ROOT)], check=True, capture_output=True, timeout=600)
    wheel = next(wheels.glob("styleinv_lib-*.whl"))
    site = tmp / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site), str(wheel)],
                   check=True, capture_output=True, timeout=600)
    assert not (site / "checkpoints").exists() and (site / "styleinv_lib" / "metrics" / "weights").is_dir()
    return site


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem[:2])
def test_every_chapter_runs_from_a_wheel_in_an_empty_folder(chapter, wheel_site, tmp_path, monkeypatch):
    """A fresh runtime: no checkout, no data/, no runs/.  Committed files come through ``checkpoint_path``, whose
    downloads are served here from the checkout's checkpoints/ folder (chapter 1 must download nothing: its
    address points nowhere)."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    work = tmp_path / "colab"
    work.mkdir()
    nb = nbformat.read(chapter, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell("import styleinv_lib; print('LIBRARY', styleinv_lib.__file__)"))
    served = (tmp_path / "nowhere") if chapter.name.startswith("01") else (ROOT / "checkpoints")
    monkeypatch.setenv("PYTHONPATH", str(wheel_site))             # the wheel shadows the editable install
    monkeypatch.setenv("STYLEINV_PROFILE", "smoke")
    monkeypatch.setenv("STYLEINV_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("STYLEINV_CHECKPOINT_URL", served.as_uri() + "/")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    client = nbclient.NotebookClient(nb, timeout=900, kernel_name="python3",
                                     resources={"metadata": {"path": str(work)}})
    client.execute()
    last = "".join(o.get("text", "") for o in nb.cells[-1].outputs)
    assert f"LIBRARY {wheel_site / 'styleinv_lib' / '__init__.py'}" in last, f"the kernel imported another copy: {last}"
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors
    downloaded = sorted(p.name for p in (tmp_path / "cache" / "checkpoints").glob("*.safetensors"))
    if chapter.name.startswith("01"):
        assert not downloaded, f"chapter 1 downloaded {downloaded}"
    print(f"{chapter.name}: downloaded {downloaded}")
