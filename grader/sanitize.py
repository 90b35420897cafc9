"""What a student's notebook or process produced, made safe to store and to show.

Everything here is applied by the grader before student-made content is written into the
autograded notebook, a record, feedback or a report: text is valid Unicode (a lone surrogate
cannot be written as UTF-8, and stopped a whole batch in nbformat.write), outputs are nbformat
outputs of the kinds a cell honestly produces (text and PNG images; never HTML or JavaScript),
everything is bounded with a visible note where it was cut, and HTML in students' Markdown is
made inert with nh3 (ammonia's allow-list).
"""
from __future__ import annotations

import base64
import binascii
import collections
import html.parser
import re

from .nncheck import cells

TEXT_LIMIT = 100_000            # characters of one text output
IMAGE_LIMIT = 2_000_000         # base64 characters of one PNG (~1.5 MB)
CELL_OUTPUTS = 50               # outputs kept per cell
NOTEBOOK_OUTPUTS = 8_000_000    # characters of outputs kept per notebook
SOURCE_LIMIT = 1_000_000        # characters of one cell's source
PNG = "iVBORw0KGgo"             # base64 of the PNG signature
TAG_LIKE = re.compile(r"<\s*[A-Za-z!/?]|&#|javascript:", re.IGNORECASE)


def text(value) -> str:
    """`value` as a str that UTF-8 can encode (lone surrogates become U+FFFD)."""
    value = value if isinstance(value, str) else str(value)
    try:
        value.encode("utf-8")
        return value
    except UnicodeEncodeError:
        return value.encode("utf-8", "surrogatepass").decode("utf-8", "replace")


def deep(value):
    """Every string in a JSON-like value (keys too) through `text`."""
    if isinstance(value, str):
        return text(value)
    if isinstance(value, list):
        return [deep(v) for v in value]
    if isinstance(value, dict):
        return {text(k): deep(v) for k, v in value.items()}
    return value


def cut(value: str, limit: int, what: str = "characters") -> str:
    if len(value) <= limit:
        return value
    return (value[:limit] + f"\n[... {len(value) - limit:,} more {what} were cut: the grader "
            f"keeps {limit:,}]\n")


def _joined(value):
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return "".join(value)
    return value if isinstance(value, str) else None


def _png(value):
    value = _joined(value)
    if value is None or not value.startswith(PNG) or len(value) > IMAGE_LIMIT:
        return None
    try:
        base64.b64decode(value.replace("\n", ""), validate=True)
    except (binascii.Error, ValueError):
        return None
    return value


def output(raw) -> dict | None:
    """One output as the grader keeps it, or None when it is not one a cell produces."""
    if not isinstance(raw, dict):
        return None
    kind = raw.get("output_type")
    if kind == "stream":
        body = _joined(raw.get("text"))
        if body is None:
            return None
        name = raw.get("name") if raw.get("name") in ("stdout", "stderr") else "stdout"
        return {"output_type": "stream", "name": name, "text": cut(text(body), TEXT_LIMIT)}
    if kind in ("display_data", "execute_result"):
        data = raw.get("data")
        if not isinstance(data, dict):
            return None
        kept = {}
        plain = _joined(data.get("text/plain"))
        if plain is not None:
            kept["text/plain"] = cut(text(plain), TEXT_LIMIT)
        image = _png(data.get("image/png"))
        if image is not None:
            kept["image/png"] = image
        if not kept:
            return None
        result = {"output_type": kind, "data": kept, "metadata": {}}
        if kind == "execute_result":
            count = raw.get("execution_count")
            result["execution_count"] = count if type(count) is int else None
        return result
    if kind == "error":
        return {"output_type": "error", "ename": cut(text(raw.get("ename", "Error")), 200),
                "evalue": cut(text(raw.get("evalue", "")), 4000), "traceback": []}
    return None


def _size(out: dict) -> int:
    return sum(len(v) for v in (out.get("text"), out.get("evalue"), *out.get("data", {}).values())
               if isinstance(v, str))


def _note(message):
    return {"output_type": "stream", "name": "stderr", "text": f"[grader: {message}]\n"}


class Outputs:
    """Outputs of one notebook, within NOTEBOOK_OUTPUTS in all."""

    def __init__(self, budget: int = NOTEBOOK_OUTPUTS):
        self.left = budget

    def cell(self, raw) -> list:
        raw = raw if isinstance(raw, list) else []
        kept, dropped, over = [], 0, 0
        for item in raw[:CELL_OUTPUTS]:
            out = output(item)
            if out is None:
                dropped += 1
                continue
            size = _size(out)
            if size > self.left:
                over += 1
                continue
            self.left -= size
            kept.append(out)
        if len(raw) > CELL_OUTPUTS:
            kept.append(_note(f"{len(raw) - CELL_OUTPUTS} more outputs of this cell were cut: "
                              f"the grader keeps {CELL_OUTPUTS} per cell"))
        if dropped:
            kept.append(_note(f"{dropped} output(s) that a cell does not produce (HTML, "
                              "JavaScript, malformed) were dropped"))
        if over:
            kept.append(_note(f"{over} output(s) were cut: the notebook's outputs exceed "
                              f"{NOTEBOOK_OUTPUTS:,} characters"))
        return kept


class _Tags(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.seen = []

    def handle_starttag(self, tag, attrs):
        self.seen.append((tag, sorted(attrs, key=str)))

    handle_startendtag = handle_starttag


def _tags(source: str) -> collections.Counter:
    parser = _Tags()
    parser.feed(source)
    parser.close()
    return collections.Counter(f"{tag} {attrs}" for tag, attrs in parser.seen)


def _clean_html(source: str) -> str:
    import nh3
    attributes = {tag: set(names) for tag, names in nh3.ALLOWED_ATTRIBUTES.items()}
    attributes["*"] = attributes.get("*", set()) | {"class", "id", "title", "lang"}
    attributes["a"] = attributes.get("a", set()) | {"target"}
    return nh3.clean(source, attributes=attributes, link_rel=None)


INERT_NOTE = ("\n\n<p><em>[grader: active HTML in this cell (a script, an event handler, a "
              "javascript: link) was removed; what is left is shown]</em></p>\n")


def _rendered(source: str, attachments) -> str:
    """The HTML nbconvert's HTML exporter (formgrader's view) renders from a Markdown cell."""
    from nbconvert.filters.markdown_mistune import IPythonRenderer, MarkdownWithMath
    renderer = IPythonRenderer(escape=False, attachments=attachments or {})
    try:
        return MarkdownWithMath(renderer=renderer).render(source)
    except Exception:           # noqa: BLE001  (e.g. a missing attachment: render it plain)
        return source


def markdown(source: str, raw: bool = False, attachments=None) -> str:
    """A student's Markdown cell (or a raw cell, `raw`) as it may be shown to a TA: unchanged
    unless the HTML nbconvert (and so formgrader) renders from it holds something nh3 removes;
    then that HTML, cleaned, replaces the cell. Plain text, math, code and ordinary links and
    images are left exactly as written."""
    source = text(source)
    rendered = source if raw else _rendered(source, attachments)
    if not TAG_LIKE.search(rendered):
        return source
    cleaned = _clean_html(rendered)
    if not _tags(rendered) - _tags(cleaned):        # nh3 removed nothing (it may add <tbody>)
        return source
    return cleaned + INERT_NOTE


def cell_source(cell: dict) -> tuple[str, str | None]:
    """A student cell's source as it may be stored (bounded; Markdown and raw made inert), and
    what was changed, if anything."""
    source = text(cells.source(cell))
    if len(source) > SOURCE_LIMIT:
        note = (f"this cell's {len(source):,} characters exceed the {SOURCE_LIMIT:,} a cell "
                "may hold; it was not kept, and not run")
        return (f"# [grader: {note}]\n" if cell.get("cell_type") == "code"
                else f"[grader: {note}]"), note
    if cell.get("cell_type") in ("markdown", "raw"):
        attachments = cell.get("attachments") if isinstance(cell.get("attachments"), dict) \
            else None
        inert = markdown(source, raw=cell.get("cell_type") == "raw", attachments=attachments)
        if inert != source:
            return inert, (f"active HTML (a script, an event handler or a javascript: link) in "
                           f"a {cell['cell_type']} cell was removed")
    return source, None
