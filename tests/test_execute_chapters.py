"""``make book-outputs``: notebooks/_execute.py re-executes chapters in place, atomically, with progress."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _module():
    spec = importlib.util.spec_from_file_location("execute_chapters", ROOT / "notebooks" / "_execute.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_chapter_selection():
    mod = _module()
    every = mod.chapters([])
    assert [p.name[:2] for p in every] == sorted(p.name[:2] for p in every) and len(every) >= 9
    assert [p.name[:2] for p in mod.chapters(["7", "09"])] == ["07", "09"]
    with pytest.raises(SystemExit, match="no chapter notebook for 42"):
        mod.chapters(["42"])


def test_execute_writes_outputs_and_leaves_a_failing_chapter_untouched(tmp_path):
    nbformat = pytest.importorskip("nbformat")
    mod = _module()
    good, bad = tmp_path / "01_good.ipynb", tmp_path / "02_bad.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import os; print(os.getcwd())")]), good)
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("raise RuntimeError('boom')")]), bad)
    before = bad.read_bytes()
    assert mod.execute(good, "smoke") >= 0
    nb = nbformat.read(good, as_version=4)
    assert nb.cells[0].outputs[0]["text"].strip() == str(tmp_path)            # ran in the notebook's folder
    assert nb.metadata["styleinv"]["executed"]["profile"] == "smoke"
    with pytest.raises(Exception, match="boom"):
        mod.execute(bad, "smoke")
    assert bad.read_bytes() == before and not list(tmp_path.glob("*.part"))
