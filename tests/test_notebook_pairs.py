"""Every chapter is authored twice over, as MyST Markdown (``notebooks/NN_*.md``, what an author edits) and as the
notebook that keeps the stored outputs (``NN_*.ipynb``, what the book shows and nbval runs), paired by jupytext.
The two must hold the same cells: same kinds, same sources, same tags.  After editing either one,
``jupytext --sync notebooks/NN_*.md`` brings the other in line (``make book-outputs`` does it before executing).
"""
from __future__ import annotations

import json
import re
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


MACHINE_PATH = re.compile(r"(?<![\w.])(/tmp/|/var/folders/|/private/var/|/work/|/home/|/root/|/content/|/Users/"
                          r"|[A-Z]:\\\\Users)")


@pytest.mark.parametrize("notebook", CHAPTERS, ids=lambda p: p.stem)
def test_stored_outputs_name_no_path_of_the_machine_that_ran_them(notebook):
    """The book shows the stored outputs: a checkout's, a home folder's or a temporary folder's absolute path there
    is a leak and means nothing to a reader (print paths relative to the book, or names)."""
    leaks = []
    for i, cell in enumerate(nbformat.read(notebook, as_version=4).cells):
        for out in cell.get("outputs", ()):
            blob = json.dumps(out)
            leaks += [f"cell {i}: ...{blob[max(0, m.start() - 40):m.end() + 40]}..."
                      for m in MACHINE_PATH.finditer(blob)]
    assert not leaks, f"{notebook.name}: " + "\n".join(leaks[:5])


PLAIN_TEXT = re.compile(r"(\$\$.*?\$\$|\$[^$\n]+\$|```.*?```|`[^`]*`|\{[a-z]+\}`[^`]*`|\[[^\]]*\]\([^)]*\))", re.S)


def prose(notebook: Path):
    """``(cell index, text)`` of each markdown cell without its maths, code, roles, links and headings."""
    for i, cell in enumerate(nbformat.read(notebook, as_version=4).cells):
        if cell.cell_type == "markdown":
            yield i, "\n".join(line for line in PLAIN_TEXT.sub(" ", cell.source).splitlines()
                               if not line.lstrip().startswith("#"))


@pytest.mark.parametrize("notebook", CHAPTERS, ids=lambda p: p.stem)
def test_mentions_of_other_chapters_are_links(notebook):
    """"chapter 4" in the prose is a {doc} link to it (headings, code and maths aside; a chapter's mention of
    itself stays plain)."""
    me = int(notebook.name[:2])
    plain = [f"cell {i}: {m.group(0)}" for i, text in prose(notebook)
             for m in re.finditer(r"\b[Cc]hapter (\d)\b(?![-–\d])", text) if int(m.group(1)) != me]
    assert not plain, f"{notebook.name}: unlinked chapter mentions (write {{doc}}`chapter N <NN_name>`): {plain}"


@pytest.mark.parametrize("notebook", CHAPTERS, ids=lambda p: p.stem)
def test_every_chapter_opens_with_goals_and_ends_with_a_summary_and_exercises(notebook):
    cells = [c.source for c in nbformat.read(notebook, as_version=4).cells if c.cell_type == "markdown"]
    first = cells[0]
    assert "{admonition} Learning goals" in first and "**Run time**" in first and "`cpu`" in first, \
        f"{notebook.name}: the first cell must state the learning goals and the run time per profile"
    text = "\n".join(cells)
    assert re.search(r"^## Summary", text, re.M), f"{notebook.name}: no summary"
    exercises = text.split("## Exercises", 1)
    assert len(exercises) == 2, f"{notebook.name}: no exercises"
    count = len(re.findall(r"^\d+\. ", exercises[1].split("\n## ", 1)[0], re.M))
    assert 3 <= count <= 5, f"{notebook.name}: {count} exercises (3-5 wanted)"


@pytest.mark.parametrize("notebook", CHAPTERS, ids=lambda p: p.stem)
def test_mentions_of_the_papers_equations_are_links(notebook):
    """"Eq. 4" of the paper in the prose links to where the chapters state it (targets eq-paper-1 in chapter 3,
    eq-paper-2 to eq-paper-6 in chapter 6); equations of other papers are named as theirs ("its Eqs. 1 and 3")."""
    plain = [f"cell {i}: {m.group(0)}" for i, text in prose(notebook)
             for m in re.finditer(r"(?<!its )\bEqs?\. ?\(?[1-6]\b", text)]
    assert not plain, f"{notebook.name}: unlinked equation mentions (write {{ref}}`Eq. N <eq-paper-N>`): {plain}"
