"""Annotated code listings for the book: a function's source with the formula each line implements beside it.

``inspect.getsource`` prints a function; a reader then has to find which line is which term of the equation above
it.  :func:`annotated_listing` returns HTML with two columns: on the left, beside the line that implements it, a
short note (``"PE(τ) = [sin φ, cos φ]"``), and the source lines on the right.  The notes come first so that they stay
in view when a long line makes the listing scroll sideways.  Each note is attached to the first line
at or after the previous note's line that contains its key, and a key that matches no line is an error: when the
code changes, the chapter fails instead of annotating the wrong line.  The HTML carries its own inline styles, so it
looks the same in JupyterLab, Colab and the built book, and scrolls sideways inside the text column when a line is
long.
"""
from __future__ import annotations

import html
import inspect
import textwrap
from typing import Any, Mapping

__all__ = ["annotated_listing", "show_annotated_listing"]

_TABLE = ("border-collapse:collapse; font-size:12.5px; line-height:1.45; margin:0.4em 0 1em 0; "
          "border-left:3px solid #6c8ebf; width:auto")
_CODE = ("font-family:SFMono-Regular,Menlo,Consolas,monospace; white-space:pre; padding:0 1.2em 0 0.6em; "
         "vertical-align:top; text-align:left; border:none; background:none")
_NOTE = ("font-family:inherit; color:#1f4e8c; padding:0 0.6em 0 0.4em; vertical-align:top; text-align:right; "
         "white-space:nowrap; border:none; border-right:1px solid #d0d7e2; background:none")


def _source_lines(obj: Any, start: str | None) -> tuple[list[str], int]:
    """The dedented source lines from the first one containing ``start`` on, and how many were left out."""
    source = obj if isinstance(obj, str) else inspect.getsource(obj)
    lines = textwrap.dedent(source).rstrip("\n").splitlines()
    if start is None:
        return lines, 0
    first = next((i for i, line in enumerate(lines) if start in line), None)
    if first is None:
        raise ValueError(f"no line of the listing contains the start marker {start!r}")
    return textwrap.dedent("\n".join(lines[first:])).splitlines(), first


def annotated_listing(obj: Any, notes: Mapping[str, str], *, start: str | None = None,
                      caption: str | None = None) -> str:
    """HTML of ``obj``'s source (a function, class or method, or a source string) with ``notes`` beside it.

    Args:
        obj: what to list; ``inspect.getsource`` reads it.
        notes: ``{key: note}`` in the order of the lines: each note goes beside (left of) the first line, at or
            after the previous note's line, that contains ``key``.  Raises ``ValueError`` when a key matches no such line.
        start: list from the first line containing this text on (to skip the signature and argument checks);
            the lines before it are summarised as one comment line.
        caption: a line above the listing.
    """
    lines, skipped = _source_lines(obj, start)
    placed: dict[int, str] = {}
    at = 0
    for key, note in notes.items():
        found = next((i for i in range(at, len(lines)) if key in lines[i]), None)
        if found is None:
            raise ValueError(f"annotated listing: no line at or after line {at + 1} contains {key!r}")
        placed[found] = note
        at = found + 1
    rows = []
    if skipped:
        rows.append(f'<tr><td style="{_NOTE}"></td><td style="{_CODE}; color:#777"># ... ({skipped} lines before this '
                    'one left out: the signature, input checks)</td></tr>')
    for i, line in enumerate(lines):
        rows.append(f'<tr><td style="{_NOTE}">{html.escape(placed.get(i, ""))}</td>'
                    f'<td style="{_CODE}">{html.escape(line) or "&nbsp;"}</td></tr>')
    head = (f'<div style="font-size:0.9em; color:#555; margin-top:0.4em">{html.escape(caption)}</div>'
            if caption else "")
    return (f'<div class="styleinv-listing" style="overflow-x:auto; max-width:100%">{head}'
            f'<table style="{_TABLE}">{"".join(rows)}</table></div>')


def show_annotated_listing(obj: Any, notes: Mapping[str, str], **kwargs) -> None:
    """Display :func:`annotated_listing` inline (``IPython.display.HTML``)."""
    from IPython.display import HTML, display

    display(HTML(annotated_listing(obj, notes, **kwargs)))
