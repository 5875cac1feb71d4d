"""Figures for the book: plotly set up so that figures survive into the static HTML book, and image grids.

Plotly in a Jupyter Book, and why :func:`setup_plotly` exists
--------------------------------------------------------------
A plotly figure in a notebook output is only *data* plus a call to ``Plotly.newPlot``; the plotly.js library has
to come from somewhere when the page is shown.  Where it comes from depends on the renderer that was active when
the output was stored, and most choices leave the built book blank or tied to the internet:

* ``notebook`` / ``notebook_connected`` store ``require(["plotly"], ...)`` calls.  They need RequireJS, which a
  Jupyter Book page does not load (MyST-NB adds RequireJS — from a CDN — only to pages that hold ipywidgets
  state), so the figure stays blank; ``_connected`` would also fetch plotly.js from cdn.plot.ly.
* ``plotly_mimetype`` alone stores ``application/vnd.plotly.v1+json``, which JupyterLab, Notebook 7 and VS Code
  render, but MyST-NB (1.x) has no renderer for (it renders text, Markdown, HTML, LaTeX, JavaScript, images and
  widget views), so the figure is missing from the page and the build warns.
* ``iframe`` writes one HTML file per figure into ``iframe_figures/`` beside the notebook: files that Sphinx does
  not copy; ``cdn`` variants need the internet.

The choice made here: :func:`setup_plotly` registers a renderer ``"styleinv_book"`` and makes the default
``"plotly_mimetype+styleinv_book"``.  Every figure output then carries two representations of the same figure:

* ``application/vnd.plotly.v1+json`` for live front ends: JupyterLab / Notebook 7 (the ``jupyterlab-plotly``
  extension shipped inside the plotly wheel) and VS Code draw it with their own bundled plotly.js, offline;
* ``text/html``: a ``<div>`` plus a script that calls ``Plotly.newPlot`` on the global ``window.Plotly`` (waiting
  for the page's ``load`` event if plotly.js is not there yet), with no RequireJS, no MathJax and no CDN.  This is
  the representation MyST-NB puts into the book page.  It is small: plotly.js itself is *not* in the notebook.

The book supplies ``window.Plotly``: this module is also a tiny **Sphinx extension** (:func:`setup`), loaded by
``_config.yml`` (``sphinx: local_extensions: {styleinv_lib.viz.plots: .}``).  It copies the ``plotly.min.js``
that ships inside the installed plotly package (so its version always matches the Python package that wrote the
figures) to ``_build/html/_static/plotly.min.js`` and adds a ``<script>`` for it, in the page head and before
other extension scripts (so it cannot be captured by a RequireJS loaded later), to exactly the pages that contain
a plotly figure.  The built book draws its figures with no network access at all, and no extra build step.
It also removes the JSON part of those outputs before MyST-NB reads the notebook (MyST-NB would warn that it
cannot render it, and the book is built with warnings as errors): see :func:`drop_redundant_plotly_json`.

Colab is the exception: it renders ``text/html`` in a sandboxed iframe of its own, so there :func:`setup_plotly`
keeps plotly's ``colab`` renderer (which loads plotly.js from its CDN; Colab is online anyway).  In the classic
Notebook 6 interface, call ``plotly.io.renderers.default = "notebook"`` yourself.
"""
from __future__ import annotations

import base64
import io
import json
import math
import re
import shutil
import sys
import uuid
from pathlib import Path
from typing import Any, Sequence

import numpy as np

__all__ = ["BOOK_RENDERER", "setup_plotly", "plotly_js_path", "copy_plotly_js", "drop_redundant_plotly_json",
           "image_grid_figure", "show_image_grid", "setup", "png_data_uri", "frame_slider_figure"]

#: Name of the plotly renderer registered by :func:`setup_plotly`.
BOOK_RENDERER = "styleinv_book"

_PLACEHOLDER = ("interactive plotly figure, waiting for plotly.js (the book's pages load it; in the classic "
                "Notebook 6 interface set plotly.io.renderers.default = 'notebook')")


# ------------------------------------------------------------------------------------------------------- plotly
def _book_html(fig_dict: dict, config: dict | None = None) -> str:
    """``text/html`` for one figure: plotly's own ``to_html`` output (no plotly.js, no MathJax), with the drawing
    call wrapped so it runs once ``window.Plotly`` exists, and a visible note while it does not."""
    import plotly.io as pio

    html = pio.to_html(fig_dict, config=config or {}, auto_play=False, include_plotlyjs=False,
                       include_mathjax=False, full_html=False, default_width="100%", default_height=525,
                       validate=False)
    match = re.search(r'(<div id="([^"]+)" class="plotly-graph-div"[^>]*>)(</div>)', html)
    script = re.search(r'<script type="text/javascript">(.*?Plotly\.newPlot.*?)</script>', html, flags=re.S)
    if not (match and script):            # an unknown plotly output format: keep it as it is
        return html
    div_id = match.group(2)
    html = html.replace(match.group(0),
                        f'{match.group(1)}<p class="sil-plotly-placeholder" style="color:#888;font-size:small">'
                        f"{_PLACEHOLDER}</p>{match.group(3)}", 1)
    body = script.group(1)
    wrapped = (
        "(function () {\n"
        "  function draw() {\n"
        f'    var gd = document.getElementById("{div_id}");\n'
        "    if (!gd || !window.Plotly) { return; }\n"
        "    var note = gd.querySelector('.sil-plotly-placeholder'); if (note) { note.remove(); }\n"
        f"    {body}\n"
        "  }\n"
        "  if (window.Plotly) { draw(); } else { window.addEventListener('load', draw); }\n"
        "})();")
    return html.replace(script.group(0), f'<script type="text/javascript">{wrapped}</script>', 1)


def _register_renderer() -> None:
    import plotly.io as pio
    from plotly.io._base_renderers import MimetypeRenderer

    class BookHtmlRenderer(MimetypeRenderer):
        """``text/html`` that draws with a page-level ``window.Plotly`` (see the module docstring)."""

        def __init__(self, config: dict | None = None):
            self.config = dict(config or {})

        def to_mimebundle(self, fig_dict):
            return {"text/html": _book_html(fig_dict, self.config)}

    if BOOK_RENDERER not in pio.renderers:
        pio.renderers[BOOK_RENDERER] = BookHtmlRenderer()


def setup_plotly(renderer: str | None = None) -> str:
    """Make plotly figures display both live (Jupyter, VS Code, Colab) and in the static book; return the renderer.

    Default: ``"plotly_mimetype+styleinv_book"``, or ``"colab"`` inside Google Colab.  Pass ``renderer`` to force
    another one (it is still validated by plotly).  Call it once at the top of a notebook, before any figure is
    shown.  The reasoning is in the module docstring.
    """
    import plotly.io as pio

    _register_renderer()
    if renderer is None:
        renderer = "colab" if "google.colab" in sys.modules else f"plotly_mimetype+{BOOK_RENDERER}"
    pio.renderers.default = renderer
    return renderer


def plotly_js_path() -> Path:
    """The ``plotly.min.js`` bundled with the installed plotly package (the version its figures are written for)."""
    import plotly

    path = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    if not path.is_file():
        raise FileNotFoundError(f"plotly.min.js not found in the installed plotly package at {path}")
    return path


def copy_plotly_js(dest_dir: str | Path) -> Path:
    """Copy the installed ``plotly.min.js`` into ``dest_dir`` (created if needed) unless an identical copy is there."""
    src = plotly_js_path()
    dest = Path(dest_dir) / "plotly.min.js"
    dest.parent.mkdir(parents=True, exist_ok=True)
    if not (dest.is_file() and dest.stat().st_size == src.stat().st_size
            and dest.read_bytes() == src.read_bytes()):
        tmp = dest.with_name(dest.name + ".tmp")
        shutil.copyfile(src, tmp)
        tmp.replace(dest)
    return dest


# ------------------------------------------------------------------------------- Sphinx extension (the book build)
def _page_needs_plotly(app, pagename, templatename, context, doctree) -> None:
    """``html-page-context``: add plotly.js to pages whose body holds a plotly figure (Sphinx >= 3.5 per-page JS)."""
    if "plotly-graph-div" in (context.get("body") or ""):
        # priority 300: after Sphinx's own scripts (200), before other extensions' (500) such as MyST-NB's
        # RequireJS, whose presence would make plotly.js register as an AMD module instead of window.Plotly.
        app.add_js_file("plotly.min.js", priority=300)


def _drop_duplicate_scripts(app, pagename, templatename, context, doctree) -> None:
    """``html-page-context``: keep one of each identical ``<script>`` (same file or inline body, same attributes).

    sphinx-thebe 0.3.1 registers its inline configuration (``const THEBE_JS_URL = ...``) twice under Jupyter
    Book 1.0; a second ``const`` of the same name is a SyntaxError in the reader's browser on every page (the
    browser test caught it)."""
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, unique = set(), []
    for js in scripts:
        key = (str(getattr(js, "filename", js) or ""),   # not str(js), which includes the priority; None == ""
               tuple(sorted((k, str(v)) for k, v in getattr(js, "attributes", {}).items())))
        if key not in seen:
            seen.add(key)
            unique.append(js)
    context["script_files"] = unique


#: Where ``make mathjax`` unpacks MathJax 3 (npm's ``mathjax`` package, ``es5/``) for an offline book.
MATHJAX_STATIC = Path(".cache") / "book-static"


def _use_local_mathjax(app, config) -> None:
    """``config-inited``: serve MathJax from the book's ``_static/mathjax`` when a local copy exists (``make
    mathjax`` puts one in ``.cache/book-static/mathjax``, or ``$STYLEINV_MATHJAX_STATIC`` names such a folder);
    otherwise Sphinx's default, MathJax from its CDN, stays, and equations need a network connection."""
    import os

    static = Path(os.environ.get("STYLEINV_MATHJAX_STATIC") or Path(app.srcdir) / MATHJAX_STATIC)
    if (static / "mathjax" / "tex-mml-chtml.js").is_file():
        config.html_static_path = [*config.html_static_path, str(static.resolve())]
        config.mathjax_path = "mathjax/tex-mml-chtml.js"


def _ship_plotly_js(app, exception) -> None:
    """``build-finished``: put ``plotly.min.js`` into the HTML output's ``_static`` folder."""
    if exception is None and getattr(app.builder, "format", None) == "html":
        copy_plotly_js(Path(app.outdir) / "_static")


PLOTLY_MIMETYPE = "application/vnd.plotly.v1+json"


def drop_redundant_plotly_json(source: str) -> str:
    """Remove the plotly JSON part from notebook outputs that also carry ``text/html``; return the new source.

    MyST-NB renders *every* part of an output bundle while parsing (it picks one per output format later) and
    warns about parts it has no renderer for, so with ``-W`` the JSON part for JupyterLab would fail the build.
    Dropping it where an HTML part exists loses nothing for the book.  An output that has *only* the JSON part is
    left alone: its warning is real, because that figure would be missing from the page (the notebook was run
    without :func:`setup_plotly`).
    """
    import json

    if PLOTLY_MIMETYPE not in source:
        return source
    try:
        nb = json.loads(source)
    except ValueError:
        return source
    changed = False
    for cell in nb.get("cells", []):
        for out in cell.get("outputs", []) if isinstance(cell, dict) else []:
            data = out.get("data") if isinstance(out, dict) else None
            if isinstance(data, dict) and PLOTLY_MIMETYPE in data and "text/html" in data:
                del data[PLOTLY_MIMETYPE]
                changed = True
    return json.dumps(nb, ensure_ascii=False) if changed else source


def _source_read(app, docname, source) -> None:
    """``source-read``: apply :func:`drop_redundant_plotly_json` to notebooks before MyST-NB parses them."""
    if str(app.env.doc2path(docname, base=False)).endswith(".ipynb"):
        source[0] = drop_redundant_plotly_json(source[0])


def setup(app) -> dict:
    """Sphinx entry point, so that ``_config.yml`` can load this module as a local extension (see module doc)."""
    plotly_js_path()                       # fail the build early, and loudly, if plotly.js cannot be found
    app.connect("source-read", _source_read)
    app.connect("config-inited", _use_local_mathjax)
    app.connect("html-page-context", _page_needs_plotly)
    app.connect("html-page-context", _drop_duplicate_scripts, priority=900)   # after every extension's scripts
    app.connect("build-finished", _ship_plotly_js)
    from .._version import __version__

    return {"version": __version__, "parallel_read_safe": True, "parallel_write_safe": True}


# ------------------------------------------------------------------------------------------------- matplotlib
def _as_images(images: Any) -> np.ndarray:
    """``(N, H, W, 3)`` uint8 from uint8 or ``[0, 1]`` float images, numpy or torch, channels first or last."""
    from .video import _to_numpy, to_uint8_frames

    if isinstance(images, (list, tuple)):
        images = np.stack([_to_numpy(x) for x in images])
    arr = _to_numpy(images)
    if arr.ndim == 3 and arr.shape[-1] in (3, 4) and arr.shape[0] not in (1, 3, 4):
        arr = arr[None]                                     # one (H, W, 3) image
    if np.issubdtype(arr.dtype, np.floating) or arr.dtype == bool:
        arr = (np.clip(arr.astype(np.float32), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    return to_uint8_frames(arr)


def image_grid_figure(images: Any, nrow: int | None = None, titles: Sequence[str] | None = None, *,
                      title: str | None = None, size: float = 1.5):
    """A matplotlib figure showing ``images`` in a grid, ``nrow`` images per row; return the figure unshown.

    Args:
        images: ``(N, H, W, 3)`` or ``(N, 3, H, W)`` (numpy or torch, or a list of images); ``uint8``, or float in
            ``[0, 1]`` (matplotlib's convention; clipped).
        nrow: images per row, as in ``torchvision.utils.make_grid`` (default: up to 8).
        titles: one short caption per image.
        title: a caption for the whole figure.
        size: inches per image (height; the width follows the aspect ratio).
    """
    import matplotlib.pyplot as plt

    arr = _as_images(images)
    n, h, w, _ = arr.shape
    if titles is not None and len(titles) != n:
        raise ValueError(f"got {len(titles)} titles for {n} images")
    ncol = max(1, min(int(nrow) if nrow else min(n, 8), n))
    rows = math.ceil(n / ncol)
    cell_w = size * w / h
    extra = (0.25 if titles else 0.0) * rows + (0.35 if title else 0.0)
    fig, axes = plt.subplots(rows, ncol, figsize=(ncol * cell_w + 0.1, rows * size + extra), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if i < n:
            ax.imshow(arr[i], interpolation="nearest")
            if titles is not None:
                ax.set_title(str(titles[i]), fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout(pad=0.2, h_pad=0.3, w_pad=0.2)
    return fig


def show_image_grid(images: Any, nrow: int | None = None, titles: Sequence[str] | None = None, *,
                    title: str | None = None, size: float = 1.5) -> None:
    """Show ``images`` in a grid with matplotlib (see :func:`image_grid_figure` for the arguments).

    Returns ``None`` on purpose: returning the figure from the last line of a cell would display it twice.
    """
    import matplotlib.pyplot as plt

    image_grid_figure(images, nrow, titles, title=title, size=size)
    plt.show()


# ---------------------------------------------------------------------------------------------------------------
# A slider over precomputed frames (chapter 7): what a static page can offer instead of a live widget

def png_data_uri(image) -> str:
    """One uint8 ``H x W x 3`` image as a small PNG ``data:`` URI (an adaptive 256-colour palette: about a third
    of the bytes of RGB for a 32² face)."""
    from PIL import Image

    img = Image.fromarray(np.asarray(image)).quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def frame_slider_figure(images: Sequence, values: Sequence[float], *, title: str, prefix: str = "t = ",
                        width: int = 660, frame_ms: int = 80):
    """A plotly figure that shows ``images[k]`` when its slider is at ``values[k]``, with play and pause.

    The frames are stored in the figure as PNG data URIs (:func:`png_data_uri`), so the slider works in a static
    page.  The play/pause buttons sit left of the slider's rail and the slider's readout at its right end, so the
    buttons never cover the readout; the figure's height follows the images' aspect ratio.
    """
    import plotly.graph_objects as go

    if len(images) != len(values) or not len(images):
        raise ValueError(f"need one value per image, got {len(images)} images and {len(values)} values")
    h, w = np.asarray(images[0]).shape[:2]
    uris = [png_data_uri(im) for im in images]
    names = [f"frame{k}" for k in range(len(values))]
    plot_h = round((width - 20) * h / w)
    steps = [dict(method="animate", label=f"{v:g}",
                  args=[[n], dict(mode="immediate", frame=dict(duration=0, redraw=True), transition=dict(duration=0))])
             for v, n in zip(values, names)]
    play = dict(label="play", method="animate",
                args=[None, dict(frame=dict(duration=frame_ms, redraw=True), fromcurrent=True)])
    pause = dict(label="pause", method="animate",
                 args=[[None], dict(mode="immediate", frame=dict(duration=0, redraw=False))])
    fig = go.Figure(data=[go.Image(source=uris[0], hoverinfo="skip")],
                    frames=[go.Frame(data=[go.Image(source=u)], name=n) for u, n in zip(uris, names)])
    fig.update_layout(
        width=width, height=plot_h + 150, margin=dict(l=10, r=10, t=40, b=110), title=title,
        xaxis=dict(visible=False), yaxis=dict(visible=False),
        # buttons: a column at the left, below the picture; the slider: the rest of the width, readout at its right
        updatemenus=[dict(type="buttons", direction="down", showactive=False, buttons=[play, pause],
                          x=0, xanchor="left", y=0, yanchor="top", pad=dict(t=36, r=0))],
        sliders=[dict(active=0, steps=steps, x=0.14, len=0.86, xanchor="left", y=0, yanchor="top",
                      pad=dict(t=30, b=0),
                      currentvalue=dict(prefix=prefix, xanchor="right", font=dict(size=14)))],
    )
    return fig


# ---------------------------------------------------------------------------------------------------------------
# A scatter whose points show their image on hover (t-SNE of inverted frames, chapter 4)

def webp_base64(frame) -> str:
    """One uint8 R x R x 3 frame as a base64 WebP (a few hundred bytes at 32x32)."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.asarray(frame)).save(buf, "WEBP", quality=90)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def hover_images_html(fig, images, captions, height: int = 560, image_px: int = 128) -> str:
    """HTML for plotly `fig` with the image of the hovered point beside it (see :func:`show_with_hover_images`).

    Each point's ``customdata`` must be its index into ``images`` / ``captions`` (or a list starting with it).  The
    widget draws the figure with the page's plotly.js (the book ships it; in Colab it is loaded from plotly's CDN)
    and swaps the ``<img>`` on ``plotly_hover``.
    """
    div = "sil-hover-" + uuid.uuid4().hex[:10]
    thumbs = [webp_base64(f) for f in images]
    loader = ""
    if "google.colab" in sys.modules:                  # Colab's output frames have no plotly.js of their own
        from plotly.offline import get_plotlyjs_version
        loader = f'<script src="https://cdn.plot.ly/plotly-{get_plotlyjs_version()}.min.js"></script>'
    html = f"""{loader}
<div style="display:flex;flex-wrap:wrap;gap:10px;align-items:flex-start">
  <div id="{div}" class="plotly-graph-div" style="flex:1 1 520px;min-width:320px;height:{height}px">
    <p class="sil-plotly-placeholder" style="color:#888;font-size:small">interactive plotly figure, waiting for
    plotly.js (the book's pages load it)</p></div>
  <figure style="margin:8px 0;width:{image_px + 10}px;text-align:center;font-size:12px">
    <img id="{div}-img" alt="the hovered frame" width="{image_px}" height="{image_px}"
         style="image-rendering:pixelated;border:1px solid #bbb" src="data:image/webp;base64,{thumbs[0]}">
    <figcaption id="{div}-cap">hover over a point to see its frame</figcaption>
  </figure>
</div>
<script type="text/javascript">
(function () {{
  var fig = {fig.to_json()};
  var thumbs = {json.dumps(thumbs)};
  var captions = {json.dumps(list(captions))};
  function draw() {{
    var gd = document.getElementById("{div}");
    if (!gd || !window.Plotly || gd.getAttribute("data-drawn")) {{ return; }}
    gd.setAttribute("data-drawn", "1");
    var note = gd.querySelector(".sil-plotly-placeholder"); if (note) {{ note.remove(); }}
    var img = document.getElementById("{div}-img"), cap = document.getElementById("{div}-cap");
    window.Plotly.newPlot(gd, fig.data, fig.layout, {{responsive: true, displaylogo: false}}).then(function () {{
      gd.on("plotly_hover", function (ev) {{
        var k = ev.points[0].customdata;
        if (Array.isArray(k)) {{ k = k[0]; }}
        img.src = "data:image/webp;base64," + thumbs[k];
        cap.textContent = captions[k];
      }});
    }});
  }}
  if (window.Plotly) {{ draw(); }} else {{ window.addEventListener("load", draw); }}
}})();
</script>"""
    return html


def show_with_hover_images(fig, images, captions, height: int = 560, image_px: int = 128) -> None:
    """Display plotly ``fig`` in a notebook with the image of the hovered point beside it.

    Plotly cannot put an image into a hover label; this shows an HTML widget (the static book, Notebook, Colab) that
    draws the figure with the page's plotly.js and swaps an ``<img>`` on ``plotly_hover``, plus plotly's JSON
    (JupyterLab, VS Code: the plain figure).  ``images``: uint8 ``N×R×R×3``; each point's ``customdata`` is its
    index into ``images`` / ``captions`` (or a list starting with it).
    """
    from IPython.display import display

    html = hover_images_html(fig, images, captions, height=height, image_px=image_px)
    display({"application/vnd.plotly.v1+json": json.loads(fig.to_json()), "text/html": html}, raw=True)
