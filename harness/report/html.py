"""The pieces of every self-contained HTML page (the study report, the ranking): one stylesheet,
escaping, tables, embedded PNG figures and the page around them. No JavaScript, no outside file."""

from __future__ import annotations

import base64
import html
from collections.abc import Iterable
from pathlib import Path
from typing import Any

CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 0 auto; max-width: 1100px;
       padding: 1em 2em 3em; color: #222; line-height: 1.45; }
h1 { margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: 0.2em; margin-top: 2em; }
.sub { color: #666; margin-top: 0; }
.banner { background: #fff4d6; border: 1px solid #e0c060; padding: 0.5em 1em; border-radius: 4px; }
table { border-collapse: collapse; margin: 0.5em 0 1em; font-size: 0.9em; }
th, td { border: 1px solid #ddd; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
table.info th { width: 11em; }
pre { background: #f7f7f7; border: 1px solid #e3e3e3; padding: 0.6em; overflow-x: auto; font-size: 0.85em; }
.plots { display: grid; grid-template-columns: repeat(auto-fill, minmax(460px, 1fr)); gap: 1.5em; }
figure { margin: 0; } figure img { width: 100%; height: auto; border: 1px solid #eee; }
figcaption { color: #444; font-size: 0.9em; margin-top: 0.3em; }
.notes li { color: #8a4b00; }
"""


def escape(value: Any) -> str:
    """Any value as HTML text (quotes escaped too, so it may stand in an attribute)."""
    return html.escape(str(value), quote=True)


def html_table(header: list[str], rows: list[list[str]], numeric: Iterable[str] = frozenset()) -> str:
    """A table of text cells; the columns named in `numeric` right-aligned."""
    numeric = set(numeric)
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td class=\"num\">{escape(c)}</td>" if h in numeric else f"<td>{escape(c)}</td>"
                         for h, c in zip(header, row, strict=True)) + "</tr>"
        for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def info_table(items: list[tuple[str, Any]]) -> str:
    """(label, value) rows as a two-column table; rows without a value are left out."""
    rows = "".join(f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in items if v not in (None, ""))
    return f"<table class=\"info\">{rows}</table>"


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
