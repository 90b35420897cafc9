"""What the grader's HTML pages share: escaping, the page around a body, figures embedded as
PNG, and the staff pages' style and sortable tables.

Every page is one self-contained file (no network, no other file): it opens from disk, can be
mailed or archived, and a student's or instructor's browser fetches nothing. Everything shown
that came from a submission (names, messages, code) goes through `escape`.
"""
from __future__ import annotations

import base64
import html
import io

# The staff pages (class report, similarity): cards, figures, sortable tables.
STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 1.5em auto; max-width: 1150px;
       padding: 0 1em; color: #222; }
h1 { font-size: 1.5em; margin-bottom: .1em; } h2 { font-size: 1.15em; margin-top: 1.8em; }
.sub { color: #555; } .cards { display: flex; gap: 1em; flex-wrap: wrap; margin: 1em 0; }
.card { background: #f4f6f8; border-radius: 6px; padding: .6em 1em; min-width: 8em; }
.card b { display: block; font-size: 1.4em; }
.figs { display: flex; flex-wrap: wrap; gap: 1em; align-items: flex-start; }
.figs img { max-width: 100%; height: auto; }
table { border-collapse: collapse; width: 100%; } th, td { border-bottom: 1px solid #ddd;
        padding: .3em .5em; text-align: left; vertical-align: top; }
th { background: #eef1f4; } table.sortable th { cursor: pointer; user-select: none; }
table.sortable th[data-dir=asc]::after { content: " \\25B2"; }
table.sortable th[data-dir=desc]::after { content: " \\25BC"; }
td.num { text-align: right; white-space: nowrap; } .flag { color: #a31515; }
.msg { color: #444; font-size: .92em; }
.note { background: #fff4f4; border-left: 4px solid #a31515; padding: .6em 1em; margin: 1em 0; }
details { display: inline; margin-left: .5em; } summary { cursor: pointer; color: #555; }
"""

# Click a header to sort by it (again to reverse); #sort=<key>-<asc|desc> sorts on load.
SORT_JS = """
function sortTable(table, col, dir) {
  const body = table.tBodies[0], rows = Array.from(body.rows);
  const key = r => { const c = r.cells[col], v = c.dataset.value ?? c.textContent.trim();
                     const n = Number(v); return v !== "" && !isNaN(n) ? n : v.toLowerCase(); };
  rows.sort((a, b) => { const x = key(a), y = key(b);
    const o = typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y));
    return dir === "asc" ? o : -o; });
  rows.forEach(r => body.appendChild(r));
  Array.from(table.tHead.rows[0].cells).forEach((h, i) => {
    if (i === col) h.dataset.dir = dir; else delete h.dataset.dir; });
}
document.querySelectorAll("table.sortable").forEach(table => {
  Array.from(table.tHead.rows[0].cells).forEach((th, col) => th.addEventListener("click",
    () => sortTable(table, col, th.dataset.dir === "asc" ? "desc" : "asc")));
  const m = location.hash.match(/sort=([\\w-]+?)-(asc|desc)$/);
  const th = m && table.querySelector(`th[data-key="${m[1]}"]`);
  if (th) sortTable(table, th.cellIndex, m[2]);
});
"""


def escape(text) -> str:
    return html.escape(str(text))


def document(title: str, style: str, body: list[str], script: str = "") -> str:
    """A whole page: `body` is its parts, one a line."""
    head = ["<!DOCTYPE html>", "<html lang='en'><head><meta charset='utf-8'>",
            f"<title>{escape(title)}</title>", f"<style>{style}</style></head><body>"]
    end = f"<script>{script}</script></body></html>" if script else "</body></html>"
    return "\n".join([*head, *body, end])


def cards(items) -> str:
    """The row of headline numbers: (label, value) each."""
    return ("<div class='cards'>" + "".join(f"<div class='card'><b>{escape(value)}</b>"
                                            f"{escape(label)}</div>" for label, value in items)
            + "</div>")


def sortable(table_id: str, columns) -> str:
    """A sortable table's opening up to its body: (key for #sort=, header as HTML) per column."""
    return (f"<table class='sortable' id='{table_id}'><thead><tr>"
            + "".join(f"<th data-key='{key}'>{label}</th>" for key, label in columns)
            + "</tr></thead><tbody>")


def figure(width: float, height: float):
    """A matplotlib figure drawn off screen (no pyplot: nothing global, no display)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def image(fig, alt: str) -> str:
    """The figure as an <img> that carries its PNG inline."""
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f"<img alt='{escape(alt)}' src='data:image/png;base64,{data}'>"
