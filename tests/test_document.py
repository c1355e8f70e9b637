"""The report's document: HTML from the jinja2 template (autoescaped), inline marks by Python-Markdown with raw HTML
off, Markdown tables one line a row."""
import pandas as pd

from ganbench.report.document import Document, markdown_table


def test_html_escapes_raw_html_and_renders_marks(tmp_path):
    doc = Document("t <i>x</i>")
    doc.heading("h & <b>")
    doc.para("**bold** *it* `code <x>` and <script>alert(1)</script>")
    doc.bullets(["<img src=x onerror=alert(1)>"])
    doc.table(pd.DataFrame({"<th>": ["<td>", 1.5]}), caption="cap **b**")
    html = doc.to_html(tmp_path)
    assert "<strong>bold</strong>" in html and "<em>it</em>" in html and "<code>code &lt;x&gt;</code>" in html
    assert "<script>alert" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<img src=x" not in html and "<i>x</i>" not in html and "<b>" not in html
    assert "<th>&lt;th&gt;</th>" in html and '<td class="txt">&lt;td&gt;</td>' in html
    assert '<td class="num">1.5</td>' in html and "<caption>cap <strong>b</strong></caption>" in html


def test_markdown_table_escapes_pipes():
    text = markdown_table(pd.DataFrame({"a|b": ["x|y", float("nan")], "n": [1.23456, 2.0]}))
    assert text.splitlines() == ["| a\\|b | n |", "|---|---|", "| x\\|y | 1.235 |", "|  | 2 |"]
