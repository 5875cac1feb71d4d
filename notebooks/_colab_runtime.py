"""A Colab-like runtime for the chapter checks: the library from a wheel, an empty working folder, downloads only.

Colab starts a chapter with nothing but the notebook: no checkout, no ``data/``, no ``checkpoints/``.  ``make test``
checks every chapter that way (``notebooks/conftest.py`` sends nbval's kernels here), so one execution per chapter
tests both that it runs and that it runs without the repository:

* ``build_wheel_site`` builds a wheel of the working tree and unpacks it into a ``site`` folder;
* ``write_kernelspec`` writes a Jupyter kernel for one chapter whose ``PYTHONPATH`` puts that folder before the
  editable install, whose checkpoint downloads are served from a given address (chapter 1's points nowhere, so any
  download fails its cell) into a fresh cache, and which starts in an empty folder;
* run as a script, this file is that kernel's launcher: it refuses to start unless ``styleinv_lib`` resolves to the
  wheel's copy, moves to the empty folder and hands over to ipykernel.
"""
from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SITE_ENV, WORKDIR_ENV = "STYLEINV_COLAB_SITE", "STYLEINV_COLAB_WORKDIR"


def build_wheel_site(tmp: Path) -> Path:
    """The library as a Colab user gets it: a wheel of the working tree, unpacked into ``tmp/site``.

    The build runs in the source tree (``build/``, the egg-info), so builds are serialised by a lock; ``tmp`` may
    be shared by several test processes: the first one builds, the others find ``tmp/site`` complete."""
    wheels, site, done = tmp / "wheels", tmp / "site", tmp / "site.complete"
    lock_file = ROOT / ".cache" / "wheel-build.lock"
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    tmp.mkdir(parents=True, exist_ok=True)
    with open(lock_file, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if done.exists():
            return site
        subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w",
                        str(wheels), str(ROOT)], check=True, capture_output=True, timeout=600)
        wheel = next(wheels.glob("styleinv_lib-*.whl"))
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site),
                        str(wheel)], check=True, capture_output=True, timeout=600)
        if (site / "checkpoints").exists() or not (site / "styleinv_lib" / "metrics" / "weights").is_dir():
            raise RuntimeError(f"{wheel.name}: the wheel must ship the metric weights and no checkpoints/")
        done.touch()
    return site


def write_kernelspec(kernels: Path, name: str, site: Path, served: str, scratch: Path) -> Path:
    """A kernel ``name`` under ``kernels/`` (a ``JUPYTER_PATH`` entry's ``kernels`` folder) that runs a chapter as
    on Colab; downloads come from ``served`` (a URL ending in ``/``) into ``scratch/cache``, the kernel starts in
    the empty ``scratch/work``."""
    work, cache = scratch / "work", scratch / "cache"
    work.mkdir(parents=True, exist_ok=True)
    folder = kernels / name
    folder.mkdir(parents=True, exist_ok=True)
    spec = {
        "argv": [sys.executable, str(Path(__file__).resolve()), "-f", "{connection_file}"],
        "display_name": f"Colab-like ({name})",
        "language": "python",
        "env": {"PYTHONPATH": str(site), SITE_ENV: str(site), WORKDIR_ENV: str(work),
                "STYLEINV_CACHE": str(cache), "STYLEINV_CHECKPOINT_URL": served},
    }
    (folder / "kernel.json").write_text(json.dumps(spec, indent=1))
    return folder


def _launch() -> None:
    import importlib.util

    sys.path.pop(0)                                    # this file's folder: the chapters must not see it
    site = Path(os.environ[SITE_ENV])
    found = importlib.util.find_spec("styleinv_lib")
    origin = Path(found.origin) if found is not None and found.origin else None
    if origin is None or site not in origin.parents:
        sys.exit(f"Colab-like kernel: styleinv_lib resolves to {origin}, not to the wheel in {site}")
    os.chdir(os.environ[WORKDIR_ENV])
    from ipykernel.kernelapp import launch_new_instance

    launch_new_instance()


if __name__ == "__main__":
    _launch()
