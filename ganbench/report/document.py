"""A report as a list of blocks (headings, paragraphs, tables, figures), written out as Markdown, as one
self-contained HTML file rendered from ``templates/report.html.j2`` by jinja2 with autoescaping (figures embedded as base64 PNG; inline marks by Python-Markdown with raw HTML off) and tables as CSV and LaTeX.

Paragraph text may use ``**bold**``, ``*italic*`` and ```code``` marks; everything else in it, user strings
included, is text.
"""
from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from pathlib import Path

import jinja2
import markdown
import numpy as np
import pandas as pd
from markupsafe import Markup

from ganbench.paths import atomic_write_text


def cell(value) -> str:
    """A table cell as text: 4 significant digits, nothing for a missing value."""
    if isinstance(value, (float, np.floating)):
        if np.isnan(value):
            return ""
        return str(int(value)) if float(value).is_integer() and abs(value) < 1e6 else f"{value:.4g}"
    if value is None or value is pd.NA:
        return ""
    return str(value)


def md_text(value) -> str:
    """User text inside Markdown: table pipes and line breaks neutralised."""
    return cell(value).replace("|", "\\|").replace("\n", " ")


def markdown_table(frame: pd.DataFrame) -> str:
    """A Markdown table, one line a row, cells as ``cell`` shows them (unpadded: pandas' writer, through tabulate,
    pads every cell to its column's width, which changes every line a report has written so far)."""
    cols = list(frame.columns)
    lines = ["| " + " | ".join(md_text(c) for c in cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(md_text(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines)


def _table_block(frame: pd.DataFrame, caption: str) -> dict:
    rows = [[(cell(v), isinstance(v, (int, float, np.number))) for v in row] for row in frame.itertuples(index=False)]
    return {"kind": "table", "columns": [cell(c) for c in frame.columns], "rows": rows, "caption": caption}


def latex_table(frame: pd.DataFrame, caption: str = "") -> str:
    """LaTeX through pandas' Styler (booktabs rules); every string escaped for LaTeX."""
    shown = frame.copy()
    for c in shown.columns:
        if shown[c].dtype == object:
            shown[c] = shown[c].map(cell)
    styler = shown.style.hide(axis="index").format(precision=4, na_rep="", escape="latex") \
        .format_index(escape="latex", axis=1)
    kwargs = {"caption": _latex_escape(caption)} if caption else {}
    return styler.to_latex(hrules=True, **kwargs)


_LATEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{",
          "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}


def _latex_escape(text: str) -> str:
    return "".join(_LATEX.get(ch, ch) for ch in re.sub(r"\*\*|`", "", text))


def _markdown() -> markdown.Markdown:
    """Python-Markdown with raw HTML switched off: a user's ``<script>`` is text, escaped like any other."""
    md = markdown.Markdown()
    md.preprocessors.deregister("html_block")
    md.inlinePatterns.deregister("html")
    return md


_MD = _markdown()


def _inline_html(text: str) -> Markup:
    """A paragraph's inline marks (bold, italic, code) as HTML; everything else escaped."""
    out = _MD.reset().convert(text)
    return Markup(out.removeprefix("<p>").removesuffix("</p>"))


_TEMPLATES = jinja2.Environment(loader=jinja2.PackageLoader("ganbench.report", "templates"),
                                autoescape=jinja2.select_autoescape(["html", "j2"]), keep_trailing_newline=True)
_TEMPLATES.filters["inline"] = _inline_html


@dataclass
class Document:
    title: str
    blocks: list = field(default_factory=list)
    tables: list = field(default_factory=list)  # (slug, frame, caption) written as CSV and LaTeX

    def heading(self, text: str, level: int = 2) -> None:
        self.blocks.append(("heading", level, text))

    def para(self, text: str) -> None:
        self.blocks.append(("para", text))

    def bullets(self, items: list[str]) -> None:
        if items:
            self.blocks.append(("bullets", list(items)))

    def table(self, frame: pd.DataFrame, slug: str | None = None, caption: str = "") -> None:
        self.blocks.append(("table", frame, caption))
        if slug:
            self.tables.append((slug, frame, caption))

    def figure(self, path: str, alt: str, caption: str = "") -> None:
        self.blocks.append(("figure", path, alt, caption))

    def to_markdown(self) -> str:
        out = [f"# {md_text(self.title)}", ""]
        for block in self.blocks:
            kind = block[0]
            if kind == "heading":
                out += ["#" * block[1] + " " + md_text(block[2]), ""]
            elif kind == "para":
                out += [block[1], ""]
            elif kind == "bullets":
                out += [*(f"- {b}" for b in block[1]), ""]
            elif kind == "table":
                out += ([block[2], ""] if block[2] else []) + [markdown_table(block[1]), ""]
            elif kind == "figure":
                out += [f"![{md_text(block[2])}]({block[1]})", ""] + ([f"*{block[3]}*", ""] if block[3] else [])
        return "\n".join(out)

    def to_html(self, root: Path) -> str:
        """One file: CSS inline, figures as data: URIs, nothing fetched; the template escapes every string."""
        blocks = []
        for block in self.blocks:
            kind = block[0]
            if kind == "heading":
                blocks.append({"kind": kind, "level": block[1], "text": block[2]})
            elif kind == "para":
                blocks.append({"kind": kind, "text": block[1]})
            elif kind == "bullets":
                blocks.append({"kind": kind, "entries": block[1]})
            elif kind == "table":
                blocks.append(_table_block(block[1], block[2]))
            elif kind == "figure":
                data = base64.b64encode((root / block[1]).read_bytes()).decode("ascii")
                blocks.append({"kind": kind, "data": data, "alt": block[2], "caption": block[3]})
        return _TEMPLATES.get_template("report.html.j2").render(title=self.title, css=Markup(CSS), blocks=blocks)

    def write(self, out: Path) -> None:
        (out / "tables").mkdir(parents=True, exist_ok=True)
        for slug, frame, caption in self.tables:
            atomic_write_text(out / "tables" / f"{slug}.csv", frame.to_csv(index=False))
            atomic_write_text(out / "tables" / f"{slug}.tex", latex_table(frame, caption))
        atomic_write_text(out / "report.md", self.to_markdown() + "\n")
        atomic_write_text(out / "report.html", self.to_html(out))


CSS = ("body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;line-height:1.45}"
       "table{border-collapse:collapse;margin:1em 0;font-size:0.85em;display:block;overflow-x:auto}"
       "caption{text-align:left;padding:0.3em 0}"
       "th,td{border:1px solid #ccc;padding:0.25em 0.5em}th{background:#f3f3f3}td.num{text-align:right}"
       "figure{margin:1em 0}img{max-width:100%}figcaption{font-size:0.85em;color:#444}"
       "code{background:#f3f3f3;padding:0 0.2em}")
