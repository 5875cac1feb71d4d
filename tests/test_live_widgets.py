"""Chapter 7's live ipywidgets slider in a real JupyterLab, driven by headless Chromium.

The static-page test (``test_browser.py``) cannot see a live widget: it needs a kernel.  Here a JupyterLab server
runs in an empty folder holding chapter 7.  Chromium opens the notebook, runs the cells up to and including the
slider cell (``STYLEINV_WIDGETS=1`` makes the chapter show the widget, ``STYLEINV_PROFILE=smoke`` keeps it short),
drags the ``t`` slider with the mouse and checks that the frame the kernel renders for it changes.

Twice: with the installed ipywidgets 8 (and its JupyterLab extension, ``jupyterlab_widgets`` 3), and with
ipywidgets 7.8 and ``jupyterlab_widgets`` 1.1, the pair Colab and older JupyterLab installs run.  Those come from
the package index into an overlay folder that goes first on the kernel's ``PYTHONPATH`` and the server's
``JUPYTER_PATH``; the test checks which versions the kernel and the page actually loaded.  ``make test`` requires
the test to run (``STYLEINV_REQUIRE_BROWSER=1``); elsewhere it is skipped when JupyterLab, Playwright, Chromium or
the package index is missing.
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHAPTER = ROOT / "notebooks" / "07_generation.ipynb"
pytestmark = pytest.mark.slow

#: The ipywidgets 7 stack: the kernel side and the JupyterLab extension that speaks its protocol.
WIDGETS_7 = ["ipywidgets==7.8.5", "widgetsnbextension==3.6.10", "jupyterlab_widgets==1.1.11", "ipython_genutils==0.2.0"]


def _missing(what: str):
    if os.environ.get("STYLEINV_REQUIRE_BROWSER"):
        pytest.fail(f"{what} (pip install 'styleinv-lib[test]'; make browser installs Debian's chromium)")
    pytest.skip(what)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _overlay_widgets_7(folder: Path) -> Path:
    """ipywidgets 7.8 + jupyterlab_widgets 1.1 installed into ``folder`` (kept between runs in the pip cache)."""
    done = folder / ".complete"
    if not done.exists():
        res = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(folder),
                              *WIDGETS_7], capture_output=True, text=True, timeout=300)
        if res.returncode != 0:
            _missing(f"could not install {WIDGETS_7} from the package index: {res.stderr[-500:]}")
        done.touch()
    return folder


def _lab_environment(tmp: Path, widgets: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JPY_", "JUPYTER"))}
    env.update(STYLEINV_PROFILE="smoke", STYLEINV_WIDGETS="1", OMP_NUM_THREADS=env.get("OMP_NUM_THREADS", "2"),
               JUPYTER_CONFIG_DIR=str(tmp / "config"), JUPYTER_DATA_DIR=str(tmp / "data"),
               JUPYTER_RUNTIME_DIR=str(tmp / "runtime"), JUPYTERLAB_SETTINGS_DIR=str(tmp / "settings"),
               JUPYTERLAB_WORKSPACES_DIR=str(tmp / "workspaces"), IPYTHONDIR=str(tmp / "ipython"))
    if widgets == "7":
        overlay = _overlay_widgets_7(tmp.parent / "widgets7")
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(overlay), env.get("PYTHONPATH")]))
        env["JUPYTER_PATH"] = str(overlay / "share" / "jupyter")
    # every cell in the page, not only those scrolled into view (JupyterLab 4 virtualises long notebooks)
    tracker = tmp / "settings" / "@jupyterlab" / "notebook-extension" / "tracker.jupyterlab-settings"
    tracker.parent.mkdir(parents=True, exist_ok=True)
    tracker.write_text(json.dumps({"windowingMode": "none"}))
    return env


def _versions(env: dict) -> tuple[str, str]:
    """(the kernel's ipywidgets version, the widget-manager extension version JupyterLab will load)."""
    kernel = subprocess.run([sys.executable, "-c", "import ipywidgets; print(ipywidgets.__version__)"], env=env,
                            capture_output=True, text=True, timeout=60, check=True).stdout.strip()
    listing = subprocess.run([sys.executable, "-m", "jupyter", "labextension", "list"], env=env,
                             capture_output=True, text=True, timeout=120)
    lines = [ln for ln in (listing.stdout + listing.stderr).splitlines() if "@jupyter-widgets/jupyterlab-manager" in ln]
    return kernel, " | ".join(ln.strip() for ln in lines)


@pytest.fixture(params=["8", "7"], ids=["ipywidgets8", "ipywidgets7"])
def lab(request, tmp_path):
    try:
        import jupyterlab  # noqa: F401
    except ImportError:
        _missing("JupyterLab is not installed")
    widgets = request.param
    env = _lab_environment(tmp_path, widgets)
    kernel_version, extension = _versions(env)
    assert kernel_version.startswith(f"{widgets}."), f"the kernel would import ipywidgets {kernel_version}"
    assert extension, "JupyterLab lists no widget manager extension"
    major = {"8": "5.", "7": "3."}[widgets]            # @jupyter-widgets/jupyterlab-manager's own version
    assert f"jupyterlab-manager v{major}" in extension.split("|")[0], \
        f"JupyterLab would load the widget manager {extension!r}, not the one for ipywidgets {widgets}"

    folder = tmp_path / "lab"
    folder.mkdir()
    nb = json.loads(CHAPTER.read_text())
    for cell in nb["cells"]:                               # a fresh copy, as a reader opens it
        if cell["cell_type"] == "code":
            cell["outputs"], cell["execution_count"] = [], None
    (folder / CHAPTER.name).write_text(json.dumps(nb))
    port, token = _free_port(), secrets.token_hex(16)
    log = open(tmp_path / "lab.log", "w")
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
         f"--ServerApp.token={token}", f"--ServerApp.root_dir={folder}", "--LabApp.expose_app_in_browser=True",
         "--ServerApp.disable_check_xsrf=True", "--ServerApp.allow_root=True"], env=env, cwd=folder, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 120
        while True:
            try:
                urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=5)
                break
            except OSError:
                if server.poll() is not None or time.time() > deadline:
                    pytest.fail("JupyterLab did not start:\n" + (tmp_path / "lab.log").read_text()[-3000:])
                time.sleep(0.5)
        yield {"url": url, "token": token, "widgets": widgets, "log": tmp_path / "lab.log"}
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("playwright is not installed")
    exe = os.environ.get("STYLEINV_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not exe:
        _missing("no chromium executable")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, args=["--no-sandbox"])
        yield b
        b.close()


RUN_UP_TO_SLIDER_JS = """
async () => {
    const app = window.jupyterapp;
    const panel = app.shell.currentWidget;
    await panel.context.ready;
    await panel.sessionContext.ready;
    const cells = panel.content.widgets;
    const index = cells.findIndex(c => c.model.type === 'code'
        && c.model.sharedModel.getSource().includes('display(t_slider_widget())'));
    if (index < 0) return -1;
    panel.content.activeCellIndex = index;
    await app.commands.execute('notebook:run-all-above');
    await app.commands.execute('notebook:run-cell');
    return index;
}
"""


def test_live_slider_redraws_the_frame_in_jupyterlab(lab, browser):
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    tab = ctx.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    tab.goto(f"{lab['url']}/lab/tree/{CHAPTER.name}?token={lab['token']}", wait_until="load")
    tab.wait_for_function("() => window.jupyterapp && window.jupyterapp.shell.currentWidget "
                          "&& window.jupyterapp.shell.currentWidget.sessionContext", timeout=120_000)
    assert tab.evaluate(RUN_UP_TO_SLIDER_JS) > 0, "chapter 7 has no cell that displays the live slider"
    slider = tab.locator(".jp-OutputArea .widget-hslider").first
    try:
        slider.wait_for(state="visible", timeout=420_000)
    except Exception:
        outputs = tab.evaluate("() => [...document.querySelectorAll('.jp-OutputArea-output')]"
                               ".map(o => o.innerText.slice(0, 300)).filter(t => /Error|Traceback/.test(t))")
        pytest.fail(f"ipywidgets {lab['widgets']}: no slider appeared; errors in outputs: {outputs}; "
                    f"server log: {lab['log'].read_text()[-2000:]}")
    box = slider.locator("xpath=ancestor::*[contains(@class,'widget-vbox')][1]").first
    image = box.locator("img").first
    image.wait_for(state="visible", timeout=60_000)
    readout = slider.locator(".widget-readout").first
    before_png, before_value = image.screenshot(), readout.inner_text().strip()

    handle = slider.locator(".noUi-handle, .ui-slider-handle").first
    hb, sb = handle.bounding_box(), slider.bounding_box()
    y = hb["y"] + hb["height"] / 2
    tab.mouse.move(hb["x"] + hb["width"] / 2, y)
    tab.mouse.down()
    tab.mouse.move(hb["x"] + 0.35 * sb["width"], y, steps=8)
    tab.mouse.up()
    deadline = time.time() + 60
    while True:
        after_value = readout.inner_text().strip()
        after_png = image.screenshot()
        if after_value != before_value and after_png != before_png:
            break
        if time.time() > deadline:
            pytest.fail(f"ipywidgets {lab['widgets']}: dragging the slider changed the readout "
                        f"{before_value!r} -> {after_value!r}, the frame {'did' if after_png != before_png else 'did not'}"
                        " change")
        tab.wait_for_timeout(500)
    assert float(after_value) > float(before_value) >= 0.0
    widget_errors = [e for e in errors if "widget" in e.lower()]
    ctx.close()
    assert not widget_errors, f"ipywidgets {lab['widgets']}: JavaScript errors: {widget_errors}"
