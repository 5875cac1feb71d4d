"""Every chapter is authored twice over, as MyST Markdown (``notebooks/NN_*.md``, what an author edits) and as the
notebook that keeps the stored outputs (``NN_*.ipynb``, what the book shows and nbval runs), paired by jupytext.
The two must hold the same cells: same kinds, same sources, same tags.  After editing either one,
``jupytext --sync notebooks/NN_*.md`` brings the other in line (``make book-outputs`` does it before executing).
"""
from __future__ import annotations

from pathlib import Path

import pytest

jupytext = pytest.importorskip("jupytext")
nbformat = pytest.importorskip("nbformat")

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
CHAPTERS = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))


def _cells(nb) -> list[tuple[str, str, tuple[str, ...]]]:
    return [(c.cell_type, c.source.strip(), tuple(sorted(c.metadata.get("tags", ())))) for c in nb.cells]


def test_every_chapter_has_a_markdown_twin_and_no_generator_script():
    assert len(CHAPTERS) == 9
    assert not [p.name for p in CHAPTERS if not p.with_suffix(".md").is_file()]
    assert not list(NOTEBOOKS.glob("_make_ch*.py")), "chapters are authored as .md files now"
    stray = [p.name for p in NOTEBOOKS.glob("[0-9][0-9]_*.md") if not p.with_suffix(".ipynb").is_file()]
    assert not stray, f"markdown chapters without a notebook (run jupytext --sync on them): {stray}"


@pytest.mark.parametrize("notebook", CHAPTERS, ids=lambda p: p.stem)
def test_the_pair_holds_the_same_cells(notebook):
    stored = nbformat.read(notebook, as_version=4)
    text = jupytext.read(notebook.with_suffix(".md"))
    assert stored.metadata.get("jupytext", {}).get("formats") == "ipynb,md:myst", \
        f"{notebook.name} is not paired: jupytext --set-formats ipynb,md:myst {notebook}"
    a, b = _cells(stored), _cells(text)
    assert len(a) == len(b), f"{notebook.name}: {len(a)} cells, its .md {len(b)}: jupytext --sync {notebook}"
    for i, (x, y) in enumerate(zip(a, b)):
        assert x == y, f"{notebook.name}, cell {i}: the .ipynb and the .md differ; run jupytext --sync {notebook}"
