"""nbval runs every chapter as Colab would (see ``_colab_runtime.py``): from a wheel, in an empty folder.

Each chapter gets its own kernel: the library from a wheel of the working tree (built once per session, shared
by pytest-xdist's workers), a fresh download cache, checkpoints served from the checkout's ``checkpoints/`` as if
from the release address (chapter 1 must download nothing: its address points nowhere), and an empty working
folder.  The kernel is chosen by setting the notebook's kernel name before nbval starts it; ``JUPYTER_PATH`` points
at the specs only while it starts.
"""
from __future__ import annotations

import os

import pytest

from _colab_runtime import ROOT, build_wheel_site, write_kernelspec

_state: dict = {}


def _is_notebook_cell(item) -> bool:
    try:
        from nbval.plugin import IPyNbFile
    except ImportError:
        return False
    return isinstance(item.parent, IPyNbFile)


def _prepare(nbfile, config) -> None:
    tmp_factory = config._tmp_path_factory
    if "site" not in _state:
        base = tmp_factory.mktemp("colab")
        shared = tmp_factory.getbasetemp()
        if hasattr(config, "workerinput"):
            shared = shared.parent                     # the session's folder, above every worker's own
        _state.update(base=base, site=build_wheel_site(shared / "colab-wheel"), jupyter=base / "jupyter")
    stem = nbfile.path.stem
    name = f"styleinv-colab-{stem[:2]}"
    served = (_state["base"] / "nowhere").as_uri() + "/" if stem.startswith("01") else \
        (ROOT / "checkpoints").as_uri() + "/"
    write_kernelspec(_state["jupyter"] / "kernels", name, _state["site"], served, _state["base"] / stem)
    nbfile.nb.metadata.setdefault("kernelspec", {})["name"] = name
    nbfile._colab_kernel = name


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item):
    """Before a chapter's first cell (when nbval starts its kernel): its Colab-like kernel, findable by name."""
    option = item.config.option
    if not _is_notebook_cell(item) or option.nbval_kernel_name or option.nbval_current_env:
        yield                                          # a kernel the caller named explicitly is used as it is
        return
    if not hasattr(item.parent, "_colab_kernel"):
        _prepare(item.parent, item.config)
    before = os.environ.get("JUPYTER_PATH")
    os.environ["JUPYTER_PATH"] = os.pathsep.join(p for p in (str(_state["jupyter"]), before) if p)
    try:
        yield
        kernel = getattr(item.parent, "kernel", None)
        name = item.parent._colab_kernel
        if kernel is not None and kernel.km.kernel_name != name:
            raise RuntimeError(f"{item.parent.path.name}: nbval started {kernel.km.kernel_name!r}, not {name!r}")
    finally:
        if before is None:
            os.environ.pop("JUPYTER_PATH", None)
        else:
            os.environ["JUPYTER_PATH"] = before
