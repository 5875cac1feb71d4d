"""The book: configuration consistency, and a full `jupyter-book build` with warnings as errors.

`python tests/test_book.py _build/html` runs the same page checks on an existing build (the Makefile does so
after `make book`)."""
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
yaml = pytest.importorskip("yaml") if __name__ != "__main__" else __import__("yaml")


def _config():
    return yaml.safe_load((ROOT / "_config.yml").read_text())


def _toc_files():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]
    for part in toc.get("parts", []):
        files += [c["file"] for c in part["chapters"]]
    return files


def _notebooks():
    return sorted(p for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def test_every_chapter_notebook_is_in_the_toc_and_every_toc_file_exists():
    files = _toc_files()
    for f in files:
        assert (ROOT / f"{f}.md").exists() or (ROOT / f"{f}.ipynb").exists(), f"_toc.yml lists missing {f}"
    for nb in _notebooks():
        assert f"notebooks/{nb.stem}" in files, f"{nb.name} is not in _toc.yml"
    assert _notebooks(), "no chapter notebook"


def test_notebooks_install_from_the_repository_named_in_config():
    url = _config()["repository"]["url"]
    for nb in _notebooks():
        cells = json.loads(nb.read_text())["cells"]
        first_code = next(c for c in cells if c["cell_type"] == "code")
        src = "".join(first_code["source"])
        assert "find_spec(\"styleinv_lib\")" in src, f"{nb.name}: first code cell must install the library"
        found = re.findall(r"https://github\.com/[\w.-]+/[\w.-]+", src)
        assert found == [url], f"{nb.name}: installs from {found}, _config.yml names {url}"


def test_notebooks_say_which_profile_produced_their_outputs():
    for nb in _notebooks():
        data = json.loads(nb.read_text())
        head = "".join(data["cells"][0]["source"])
        assert re.search(r"\*\*`(cpu|gpu)`\*\* profile", head), f"{nb.name}: first cell must name the profile"
        assert "{" not in head.split("Stored outputs")[-1].split("```")[0] or "{admonition}" in head
        outputs = [o for c in data["cells"] if c["cell_type"] == "code" for o in c.get("outputs", [])]
        assert outputs, f"{nb.name} has no stored outputs: the book would show none"
        errors = [o for o in outputs if o.get("output_type") == "error"]
        assert not errors, f"{nb.name} stores an error output"


def check_built_html(html: Path) -> None:
    """Assert that a built book has its pages, its videos and its offline plotly.js."""
    assert (html / "index.html").exists(), "index.html is missing"
    for f in _toc_files():
        page = html / f"{f}.html"
        assert page.exists(), f"page {page} is missing"
    assert list((html / "_static").glob("plotly*.js")), "plotly.js was not copied into _static"
    ch1 = (html / "notebooks" / "01_video_data.html").read_text()
    assert ch1.count("data:video/mp4;base64,") >= 2, "chapter 1 must embed its videos"
    assert re.search(r'<script[^>]+src="[^"]*_static/plotly[^"]*\.js"', ch1), "chapter 1 must load local plotly.js"
    assert "cdn.plot.ly" not in ch1
    assert "<table" in ch1, "markdown tables in outputs must render as tables"


def build_book(out: Path) -> Path:
    """``jupyter-book build`` of the repository into ``out`` with warnings as errors; the HTML folder."""
    exe = shutil.which("jupyter-book", path=str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"])
    if exe is None:
        if os.environ.get("STYLEINV_REQUIRE_BOOK"):
            pytest.fail("jupyter-book is not installed (pip install 'styleinv-lib[book]')")
        pytest.skip("jupyter-book is not installed")
    res = subprocess.run([exe, "build", str(ROOT), "--path-output", str(out), "-W", "-n", "--keep-going"],
                         capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, f"book build failed:\n{res.stdout[-4000:]}\n{res.stderr[-4000:]}"
    return out / "_build" / "html"


@pytest.mark.slow
def test_book_builds_without_warnings(built_book):
    check_built_html(built_book)


if __name__ == "__main__":
    check_built_html(Path(sys.argv[1]))
    print(f"book at {sys.argv[1]} looks complete")
