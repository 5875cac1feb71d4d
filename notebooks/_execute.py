"""Re-execute chapter notebooks in place, so that the book shows fresh outputs (``make book-outputs``).

    STYLEINV_PROFILE=cpu python notebooks/_execute.py            # every chapter, in order
    STYLEINV_PROFILE=cpu python notebooks/_execute.py 07 08      # some of them

A chapter edited as its MyST Markdown twin (``NN_*.md``) is synced into the notebook first (jupytext).  Each chapter
runs top to bottom in a fresh kernel with the notebooks folder as working directory (as in Jupyter),
with a progress bar over its cells; a failing cell stops that chapter, leaves its file untouched and is reported at
the end.  The profile, wall time and machine of each run are written into the notebook's metadata
(``styleinv.executed``), beside the first cell's note on what produced the outputs.
"""
from __future__ import annotations

import os
import platform
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from tqdm.auto import tqdm

HERE = Path(__file__).resolve().parent


def chapters(selected: list[str], folder: Path = HERE) -> list[Path]:
    """The chapter notebooks of ``folder`` whose number starts one of ``selected`` (all when empty), in order."""
    found = sorted(folder.glob("[0-9][0-9]_*.ipynb"))
    if not selected:
        return found
    picked = [nb for nb in found if any(nb.name.startswith(s.zfill(2)) for s in selected)]
    unknown = [s for s in selected if not any(nb.name.startswith(s.zfill(2)) for nb in found)]
    if unknown:
        raise SystemExit(f"no chapter notebook for {', '.join(unknown)} in {folder}")
    return picked


def sync_pair(path: Path) -> None:
    """Bring the notebook's cells in line with its MyST Markdown twin (``NN_*.md``, where chapters are edited), or the
    other way round when the notebook is the newer one: ``jupytext --sync``, which keeps the stored outputs."""
    from jupytext.cli import jupytext

    if path.with_suffix(".md").is_file():
        jupytext(["--sync", "--quiet", str(path)])


def execute(path: Path, profile: str) -> float:
    """Run ``path`` top to bottom in a fresh kernel (working directory: its folder) and write it back atomically."""
    sync_pair(path)
    nb = nbformat.read(path, as_version=4)
    code_cells = sum(c.cell_type == "code" for c in nb.cells)
    bar = tqdm(total=code_cells, desc=path.stem, unit="cell")
    client = NotebookClient(nb, timeout=None, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}},
                            on_cell_executed=lambda **_: bar.update())
    start = time.time()
    try:
        client.execute()
    finally:
        bar.close()
    seconds = time.time() - start
    nb.metadata.setdefault("styleinv", {})["executed"] = {
        "profile": profile, "seconds": round(seconds), "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        "date": time.strftime("%Y-%m-%d")}
    tmp = path.with_suffix(".ipynb.part")
    nbformat.write(nb, tmp)
    os.replace(tmp, path)                       # atomic: an interrupted run never leaves half a notebook
    return seconds


def main(argv: list[str]) -> int:
    profile = os.environ.get("STYLEINV_PROFILE", "")
    if not profile:
        raise SystemExit("set STYLEINV_PROFILE (cpu or gpu): it decides what the stored outputs show")
    todo = chapters([c for arg in argv for c in arg.split(",") if c])     # "07 08" or "07,08"
    failed = []
    for i, path in enumerate(todo, 1):
        print(f"[{i}/{len(todo)}] {path.name} (profile {profile})", flush=True)
        try:
            seconds = execute(path, profile)
            print(f"    done in {seconds / 60:.1f} min", flush=True)
        except Exception as err:                # a failing chapter must not stop the others
            failed.append(path.name)
            print(f"    FAILED, {path.name} left unchanged: {type(err).__name__}: {str(err)[-2000:]}", flush=True)
    if failed:
        print(f"failed: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
