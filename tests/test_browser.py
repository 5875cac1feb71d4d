"""The built book in a real browser: every page of the table of contents is opened in headless Chromium (Debian's
``chromium``, driven by Playwright over the DevTools protocol; no browser is downloaded) from a local HTTP server.

Per page it asserts: no JavaScript error (uncaught exceptions, or console errors other than failed loads of
*external* resources: the book must work offline, and MathJax's CDN is not reachable in CI), every ``<video>``
loads with a positive, finite duration, every plotly figure has drawn its SVG (with no overlapping titles and no
untitled axis on a chart), and every internal link points to an
existing page and anchor; with MathJax served from the book (``make mathjax``), every equation is typeset
offline, at most a tenth of the code cells (one on a short page) is wider than the column, and no display
equation is clipped, runs past the text column or needs a scrollbar at 1280 px (at 390 px,
a phone, a long one may scroll inside the column).  On chapter 7 it moves the static t-slider and asserts that the
displayed frame changes and that the play/pause buttons cover neither the slider's readout, rail and labels nor the
picture; on every page, no video with controls is shown less than 120 px tall (the controls would hide it).
A full-page JPEG screenshot of each page (its first 20,000 px) is saved to ``$STYLEINV_ARTIFACTS/screenshots``
(default ``.cache/artifacts/screenshots``).  ``make test`` installs Chromium (``make browser``) and MathJax, and
requires the test to run (``STYLEINV_REQUIRE_BROWSER=1``); elsewhere it is skipped when Chromium or Playwright is
missing.
"""
from __future__ import annotations

import functools
import http.server
import os
import shutil
import threading
from pathlib import Path
from urllib.parse import unquote, urldefrag, urlparse

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow
MAX_SHOT_HEIGHT = 20000           # px: the API reference is far longer; its top is enough to see it render


def _missing(what: str):
    if os.environ.get("STYLEINV_REQUIRE_BROWSER"):
        pytest.fail(f"{what} (make browser installs Debian's chromium; pip install 'styleinv-lib[test]')")
    pytest.skip(what)


def _chromium() -> str:
    exe = os.environ.get("STYLEINV_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not exe:
        _missing("no chromium executable")
    return exe


@pytest.fixture(scope="module")
def server(built_book):
    handler = functools.partial(_QuietHandler, directory=str(built_book))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", built_book
    httpd.shutdown()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def browser():
    exe = _chromium()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("playwright is not installed")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, args=["--no-sandbox", "--autoplay-policy=no-user-gesture-required"])
        yield b
        b.close()


def _pages() -> list[str]:
    from test_book import _toc_files

    return _toc_files()


def _artifacts() -> Path:
    out = Path(os.environ.get("STYLEINV_ARTIFACTS", ROOT / ".cache" / "artifacts")) / "screenshots"
    out.mkdir(parents=True, exist_ok=True)
    return out


VIDEO_DURATIONS_JS = """
async () => Promise.all([...document.querySelectorAll('video')].map(v => new Promise(resolve => {
    const done = () => resolve({src: (v.currentSrc || v.src || '').slice(0, 40), duration: v.duration,
                                error: v.error ? v.error.code : null});
    if (v.readyState >= 1 || v.error) { done(); return; }
    v.addEventListener('loadedmetadata', done, {once: true});
    v.addEventListener('error', done, {once: true});
    v.load();
    setTimeout(done, 15000);
})))
"""

PLOTLY_JS = """
() => [...document.querySelectorAll('.js-plotly-plot')].map(gd => ({
    id: gd.id,
    svgs: gd.querySelectorAll('svg.main-svg').length,
    drawn: gd.querySelectorAll('.trace, .imagelayer image, .barlayer path, .scatterlayer path').length,
    traces: (gd.data || []).length,
}))
"""

MATH_JS = r"""
async () => {
    const local = [...document.scripts].some(s => /_static\/mathjax\/tex-mml-chtml\.js/.test(s.src));
    const maths = [...document.querySelectorAll('span.math, div.math')];
    if (local && maths.length && window.MathJax && MathJax.startup) { await MathJax.startup.promise; }
    return {local: local, maths: maths.length,
            typeset: maths.filter(m => m.querySelector('mjx-container')).length};
}
"""

#: Every display equation, once MathJax has typeset it: its box against the text column, where its ink is, and
#: whether it scrolls.  A box that starts left of the column (or ink left of its box) is clipped: no scrollbar
#: reaches it.  At desktop width nothing may need a scrollbar; on a phone, sideways scrolling inside the column is
#: the way to read a long equation.
DISPLAY_MATHS_JS = r"""
async () => {
    if (window.MathJax && MathJax.startup) { await MathJax.startup.promise; }
    return [...document.querySelectorAll('mjx-container[display="true"]')].map((c, k) => {
        const col = (c.closest('article, main') || document.body).getBoundingClientRect();
        const box = c.getBoundingClientRect();
        let left = Infinity, right = -Infinity;
        for (const e of c.querySelectorAll('mjx-c')) {
            const r = e.getBoundingClientRect();
            if (r.width > 0) { left = Math.min(left, r.left); right = Math.max(right, r.right); }
        }
        let h = c.closest('section');
        h = h && h.querySelector('h1, h2, h3');
        const under = h ? h.textContent.replace('#', '').trim().slice(0, 40) : '';
        return {tex: `display equation ${k + 1} (under "${under}")`,
                clipped_px: Math.max(col.left - box.left, box.left - left, 0),
                past_column_px: Math.max(box.right - col.right, 0),
                scrolls: /(auto|scroll)/.test(getComputedStyle(c).overflowX) && c.scrollWidth > c.clientWidth + 1,
                ink_past_column_px: Math.max(right - col.right, 0)};
    });
}
"""


def maths_problems(tab, desktop: bool) -> list[str]:
    """The display equations of the open page that are clipped, run past the column, or (desktop) need scrolling."""
    bad = []
    for m in tab.evaluate(DISPLAY_MATHS_JS):
        if m["clipped_px"] > 1:
            bad.append(f"{m['tex']}: {m['clipped_px']:.0f} px clipped at the left")
        elif m["past_column_px"] > 1 or (not m["scrolls"] and m["ink_past_column_px"] > 1):
            bad.append(f"{m['tex']}: runs {max(m['past_column_px'], m['ink_past_column_px']):.0f} px past the column")
        elif desktop and m["scrolls"]:
            bad.append(f"{m['tex']}: wider than the column (it scrolls); break it into lines")
    return bad


#: The code cells' input boxes, and how many need a horizontal scrollbar at this width.
CODE_WIDTH_JS = """
() => {
    const boxes = [...document.querySelectorAll('div.cell_input pre')];
    return {cells: boxes.length, wide: boxes.filter(p => p.scrollWidth > p.clientWidth + 1).length};
}
"""

#: Per plotly figure: pairs of titles (the figure's and its subplots') whose boxes overlap, and the visible axes
#: of a chart (not an image) without a title.
FIGURE_LABELS_JS = """
() => [...document.querySelectorAll('.js-plotly-plot')].map(gd => {
    const fl = gd._fullLayout || {};
    const boxes = [...gd.querySelectorAll('g.annotation, .g-gtitle text')]
        .map(e => ({r: e.getBoundingClientRect(), t: e.textContent.slice(0, 30)})).filter(b => b.r.width > 0);
    const overlaps = [];
    for (let i = 0; i < boxes.length; i++) for (let j = i + 1; j < boxes.length; j++) {
        const a = boxes[i].r, b = boxes[j].r;
        if (a.left < b.right - 1 && b.left < a.right - 1 && a.top < b.bottom - 1 && b.top < a.bottom - 1)
            overlaps.push(`${boxes[i].t} / ${boxes[j].t}`);
    }
    const untitled = gd.querySelector('.imagelayer image') ? [] : Object.keys(fl)
        .filter(k => /^[xy]axis\\d*$/.test(k) && fl[k].visible && fl[k].showticklabels !== false)
        .filter(k => { const t = (gd.layout[k] || {}).title; return !(t && (typeof t === 'string' ? t : t.text)); });
    const title = gd.layout.title;
    return {title: ((title && (title.text || title)) || gd.id).toString().slice(0, 40), overlaps, untitled};
})
"""

LINKS_JS = """
() => [...document.querySelectorAll('a[href]')].map(a => a.href)
"""


@pytest.mark.parametrize("page", _pages())
def test_page_in_chromium(page, server, browser):
    base, html = server
    errors: list[str] = []
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    tab = ctx.new_page()
    tab.on("pageerror", lambda exc: errors.append(f"uncaught: {exc}"))

    def on_console(msg):
        if msg.type != "error":
            return
        where = (msg.location or {}).get("url", "")
        if "Failed to load resource" in msg.text and where and not where.startswith(base):
            return                                      # an external resource (MathJax's CDN) offline
        errors.append(f"console: {msg.text} ({where})")

    tab.on("console", on_console)
    # The book must not need the network: requests to other hosts are refused at once, as offline.
    tab.route("**/*", lambda route: route.continue_() if route.request.url.startswith((base, "data:"))
              else route.abort())
    tab.goto(f"{base}/{page}.html", wait_until="load")
    tab.wait_for_timeout(500)

    videos = tab.evaluate(VIDEO_DURATIONS_JS)
    bad = [v for v in videos if not (v["duration"] and 0 < v["duration"] < float("inf")) or v["error"]]
    assert not bad, f"{page}: videos without a positive duration: {bad}"
    # the browser draws its controls over the bottom ~40 px of a video: a short strip would be hidden under them
    short = tab.evaluate(SMALL_VIDEOS_JS)
    assert not short, f"{page}: videos with controls shown only {short} px tall (controls would cover them)"

    figures = tab.evaluate(PLOTLY_JS)
    undrawn = [f for f in figures if f["svgs"] == 0 or f["drawn"] == 0]
    assert not undrawn, f"{page}: plotly figures that did not draw: {undrawn}"

    math = tab.evaluate(MATH_JS)
    if os.environ.get("STYLEINV_REQUIRE_BROWSER") and math["maths"]:
        assert math["local"], f"{page}: MathJax is not served with the book (make mathjax)"
    if math["local"]:
        assert math["typeset"] == math["maths"], f"{page}: {math['maths'] - math['typeset']} equations not typeset"
        bad_maths = maths_problems(tab, desktop=True)
        assert not bad_maths, f"{page} at 1280 px: " + "; ".join(bad_maths)

    labels = [f for f in tab.evaluate(FIGURE_LABELS_JS) if f["overlaps"] or f["untitled"]]
    assert not labels, f"{page}: figures with overlapping titles or untitled axes: {labels}"

    code = tab.evaluate(CODE_WIDTH_JS)
    assert code["wide"] <= max(1, code["cells"] // 10), \
        f"{page}: {code['wide']} of {code['cells']} code cells are wider than the column at 1280 px (79 characters)"

    broken = []
    for href in set(tab.evaluate(LINKS_JS)):
        if not href.startswith(base):
            continue
        url, anchor = urldefrag(href)
        target = html / unquote(urlparse(url).path).lstrip("/")
        if target.is_dir():
            target = target / "index.html"
        if not target.is_file():
            broken.append(href)
        elif anchor and target.suffix == ".html" and f'id="{anchor}"' not in target.read_text(errors="replace"):
            broken.append(href)
    assert not broken, f"{page}: broken internal links: {sorted(broken)}"

    if page == "notebooks/07_generation":
        _check_t_slider(tab)
    height = min(tab.evaluate("() => document.documentElement.scrollHeight"), MAX_SHOT_HEIGHT)
    # JPEG: half the encoding time of a PNG of a 1280 x 20,000 page, and easily read
    tab.screenshot(path=str(_artifacts() / f"{page.replace('/', '__')}.jpg"), type="jpeg", quality=80, full_page=True,
                   clip={"x": 0, "y": 0, "width": 1280, "height": height})
    ctx.close()
    assert not errors, f"{page}: JavaScript errors: {errors}"
    if page.startswith("notebooks/"):
        assert figures or videos, f"{page}: a chapter page with neither a figure nor a video"


def _check_t_slider(tab) -> None:
    """The static slider over t (chapter 7): clicking near the end of its rail shows another frame."""
    handle = tab.evaluate_handle("""
        () => [...document.querySelectorAll('.js-plotly-plot')].find(gd => gd.layout && gd.layout.sliders
               && gd.layout.sliders.length && gd.querySelector('.imagelayer image'))""")
    assert handle.evaluate("gd => !!gd"), "chapter 7 has no plotly figure with a slider over frames"
    frame = "gd => gd.querySelector('.imagelayer image').getAttribute('href')"
    label = "gd => gd._fullLayout.sliders[0].active"                  # the step the grip shows
    before, label_before = handle.evaluate(frame), handle.evaluate(label)
    handle.evaluate("gd => gd.scrollIntoView()")
    rail = handle.evaluate_handle("gd => gd.querySelector('.slider-rail-touch-rect')").as_element()
    box = rail.bounding_box()
    tab.mouse.click(box["x"] + 0.9 * box["width"], box["y"] + box["height"] / 2)
    tab.wait_for_timeout(800)
    after, label_after = handle.evaluate(frame), handle.evaluate(label)
    assert label_after > label_before, f"the slider did not move (step {label_before!r})"
    assert after != before, f"moving the slider to step {label_after!r} did not change the displayed frame"
    # the play/pause buttons must not cover the slider's readout, its rail or its tick labels, nor the picture
    boxes = handle.evaluate("""gd => {
        const box = el => { const r = el.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; };
        const all = sel => [...gd.querySelectorAll(sel)].map(box);
        const prefix = gd._fullLayout.sliders[0].currentvalue.prefix;          // the readout: "t = 117"
        const texts = [...gd.querySelectorAll('.slider-container text')];
        return {buttons: all('.updatemenu-button'),
                readout: texts.filter(t => t.textContent.startsWith(prefix)).map(box),
                rail: all('.slider-rail-rect'), labels: all('.slider-label'), image: all('.imagelayer image')};
    }""")
    assert boxes["buttons"] and boxes["readout"], f"the slider figure lost its buttons or readout: {boxes}"

    def overlap(a, b):
        return min(a[2], b[2]) - max(a[0], b[0]) > 0 and min(a[3], b[3]) - max(a[1], b[1]) > 0

    covered = [(name, b) for name in ("readout", "rail", "labels", "image") for b in boxes[name]
               if any(overlap(button, b) for button in boxes["buttons"])]
    assert not covered, f"the slider's play/pause buttons cover {covered}"


SMALL_VIDEOS_JS = """
() => [...document.querySelectorAll('video[controls]')].map(v => v.getBoundingClientRect().height)
      .filter(h => h > 0 && h < 120)
"""


def _pages_with_display_maths() -> list[str]:
    """The pages whose source holds display maths (``$$`` or a math directive)."""
    found = []
    for page in _pages():
        source = next((ROOT / f"{page}{ext}" for ext in (".ipynb", ".md") if (ROOT / f"{page}{ext}").is_file()), None)
        if source is not None and any(mark in source.read_text(errors="replace") for mark in ("$$", "{math}")):
            found.append(page)
    return found


@pytest.mark.parametrize("page", _pages_with_display_maths())
def test_display_maths_on_a_phone(page, server, browser):
    """At 390 px (a phone) a long equation scrolls sideways inside the column; none is clipped or runs off it."""
    base, _ = server
    ctx = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2)
    tab = ctx.new_page()
    tab.route("**/*", lambda route: route.continue_() if route.request.url.startswith((base, "data:"))
              else route.abort())
    tab.goto(f"{base}/{page}.html", wait_until="load")
    local = tab.evaluate("() => [...document.scripts].some(s => /_static\\/mathjax\\//.test(s.src))")
    if not local:
        ctx.close()
        pytest.skip("MathJax is not served with the book (make mathjax): equations are not typeset offline")
    bad = maths_problems(tab, desktop=False)
    ctx.close()
    assert not bad, f"{page} at 390 px: " + "; ".join(bad)
