"""The pieces of every self-contained HTML page (the study report, the ranking, the model): one
stylesheet, escaping, tables, embedded PNG figures and the page around them. No JavaScript, no
outside file. Every table sits in a box that scrolls sideways on its own (class "scroll"), so a wide
table never makes the page wider than the window."""

from __future__ import annotations

import base64
import html
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from harness.names import stored_name

CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 0 auto; max-width: 1100px;
       padding: 1em 2em 3em; color: #222; line-height: 1.45; }
h1 { margin-bottom: 0.2em; overflow-wrap: anywhere; }
h2 { border-bottom: 1px solid #ccc; padding-bottom: 0.2em; margin-top: 2em; }
.sub { color: #666; margin-top: 0; }
.banner { background: #fff4d6; border: 1px solid #e0c060; padding: 0.5em 1em; border-radius: 4px; }
.best { background: #eef5ee; border: 1px solid #9cc49c; padding: 0.6em 1em; border-radius: 4px; font-size: 1.05em; }
.scroll { overflow-x: auto; max-width: 100%; margin: 0.5em 0 1em; }
table { border-collapse: collapse; font-size: 0.9em; }
th, td { border: 1px solid #ddd; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; } td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.w { white-space: nowrap; } td.words { min-width: 12em; }
table.info th { width: 11em; } table.info td { overflow-wrap: anywhere; }
pre { background: #f7f7f7; border: 1px solid #e3e3e3; padding: 0.6em; overflow-x: auto; font-size: 0.85em; }
.lead { max-width: 780px; margin: 1em 0 1.5em; }
.plots { display: grid; grid-template-columns: repeat(auto-fill, minmax(460px, 1fr)); gap: 1.5em; }
figure { margin: 0; } figure img { width: 100%; height: auto; border: 1px solid #eee; }
figcaption { color: #444; font-size: 0.9em; margin-top: 0.3em; }
.notes li { color: #8a4b00; }
p, li, figcaption, code { overflow-wrap: break-word; }  /* a 255-byte file name must not widen the page */
"""


def escape(value: Any) -> str:
    """Any value as HTML text (quotes escaped too, so it may stand in an attribute); bytes of a file
    name that are not UTF-8 as `\\xNN` (harness.names.stored_name), which a UTF-8 page can hold."""
    return html.escape(stored_name(str(value)), quote=True)


def _header_cell(text: str) -> str:
    """A header cell that may break after '.' and '_' ('s1.kernel_size'), so narrow columns stay narrow."""
    return "<th>" + escape(text).replace(".", ".<wbr>").replace("_", "_<wbr>") + "</th>"


def words(text: Any) -> str:
    """Text as HTML whose lines break only between words, so that 'k7-7-5' of an architecture label
    stays on one line (a browser would break after any hyphen)."""
    return " ".join(f"<span class=\"w\">{escape(w)}</span>" for w in str(text).split())


def _cell(text: str, numeric: bool, whole_words: bool) -> str:
    """One cell: right-aligned when numeric; in `whole_words` broken only between words (`words`), at
    least 12em wide so that a narrow window does not leave one word a line."""
    if numeric:
        return f"<td class=\"num\">{escape(text)}</td>"
    if whole_words:
        return f"<td class=\"words\">{words(text)}</td>"
    return f"<td>{escape(text)}</td>"


def scroll_box(table: str, name: str = "") -> str:
    """A table in its own box that scrolls sideways when the table is wider than the page; `name`
    becomes the box's id (an anchor)."""
    anchor = f" id=\"{escape(name)}\"" if name else ""
    return f"<div class=\"scroll\"{anchor}>{table}</div>"


def html_table(header: list[str], rows: list[list[str]], numeric: Iterable[str] = frozenset(),
               whole_words: Iterable[str] = ("architecture",), name: str = "") -> str:
    """A table of text cells in a scrolling box (`scroll_box`, id `name`); the columns named in
    `numeric` right-aligned and kept on one line, those in `whole_words` broken only between words."""
    numeric, whole_words = set(numeric), set(whole_words)
    head = "".join(_header_cell(h) for h in header)
    body = "".join("<tr>" + "".join(_cell(c, h in numeric, h in whole_words) for h, c in zip(header, row, strict=True))
                   + "</tr>" for row in rows)
    return scroll_box(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>", name)


def info_table(items: list[tuple[str, Any]], name: str = "") -> str:
    """(label, value) rows as a two-column table in a scrolling box (id `name`); rows without a value are
    left out. Long values (paths, command lines) wrap anywhere rather than widen the page."""
    rows = "".join(f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in items if v not in (None, ""))
    return scroll_box(f"<table class=\"info\">{rows}</table>", name)


def embed_png(path: Path, alt: str) -> str:
    """The PNG file as an <img> with the image inside it (a data URI)."""
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f"<img alt=\"{escape(alt)}\" src=\"data:image/png;base64,{data}\">"


def figure(path: Path, title: str, caption: str = "", name: str = "") -> str:
    """One embedded figure with its bold title and caption; `name` becomes its id (an anchor)."""
    anchor = f" id=\"{escape(name)}\"" if name else ""
    text = f" {escape(caption)}" if caption else ""
    return f"<figure{anchor}>{embed_png(path, title)}<figcaption><b>{escape(title)}.</b>{text}</figcaption></figure>"


def bullets(items: Iterable[str], css_class: str = "") -> str:
    """HTML fragments as a list (each item is HTML already)."""
    attr = f" class=\"{css_class}\"" if css_class else ""
    return f"<ul{attr}>" + "".join(f"<li>{item}</li>" for item in items) + "</ul>"


def html_page(title: str, body: list[str]) -> str:
    """The whole page: head (title, the stylesheet) and the body's parts, one a line."""
    head = ["<!DOCTYPE html>", "<html lang=\"en\"><head><meta charset=\"utf-8\">",
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">",
            f"<title>{escape(title)}</title>", f"<style>{CSS}</style></head><body>"]
    return "\n".join([*head, *body, "</body></html>"]) + "\n"
