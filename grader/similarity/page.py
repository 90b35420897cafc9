"""The page of `grader similarity`: the most similar pairs, a histogram of every pair's score,
and the top pairs' code side by side with the shared code marked (rare and common)."""
from __future__ import annotations

from ..pages import SORT_JS, STYLE, cards, document, escape, figure, image, sortable
from .compare import Pair, slices
from .sources import Document

TOP_SHOWN = 12         # pairs shown side by side
TABLE_ROWS = 60        # pairs listed in the table (the CSV has every pair)
RARE = 0.5             # shared fingerprints at least this heavy are marked "rare"

PAGE_STYLE = """
.code { display: grid; grid-template-columns: minmax(0, 1fr) minmax(0, 1fr); gap: .8em; }
.code h4 { margin: .6em 0 .2em; font-size: .95em; }
pre { background: #f7f7f9; border: 1px solid #e3e3e8; padding: .5em; overflow: auto;
      max-height: 32em; font-size: 12px; line-height: 1.35; margin: 0; white-space: pre; }
mark.rare { background: #ffb3a7; } mark.common { background: #fde9a8; }
.legend mark { padding: 0 .4em; } .pair { border-top: 2px solid #ddd; margin-top: 1.5em; }
.outside { color: #8a4b00; } .left { color: #666; font-size: .9em; }
"""


def render(result, csv_name: str) -> str:
    """The page of one assignment's `similarity.Result`; `csv_name`: the CSV of every pair."""
    import numpy as np
    students = [d for d in result.docs if d.kind == "student"]
    scores = [p.score for p in result.pairs]
    a = result.assignment
    body = [f"<h1>{escape(a.title)}: similar submissions</h1>",
            f"<p class='sub'>For the course staff only. <code>{escape(a.id)}</code>: every pair "
            "of submissions, and every submission against each outside source, compared on the "
            "code students wrote (the modules and the notebook's code cells; the released "
            "starter code does not count). Renamed variables, comments, layout, reordered "
            "functions and code moved between cells do not hide a match. A score weighs each "
            "shared piece of code by how rare it is in the class: 1.00 is the same code, "
            "written by nobody else; code most of the class wrote alike counts for little. "
            "A high score is a reason to look, not a proof.</p>",
            cards([("submissions compared", len(students)),
                   ("outside sources", sum(1 for d in result.docs if d.kind == "outside")),
                   ("pairs", len(result.pairs)), ("left out", len(result.skipped)),
                   ("highest score", f"{max(scores):.2f}" if scores else "-"),
                   ("median score", f"{float(np.median(scores)):.2f}" if scores else "-")]),
            "<div class='figs'>", _histogram(result) if scores else "", "</div>",
            *_table(result, csv_name),
            *(_pair_section(rank, pair, result.weight)
              for rank, pair in enumerate(result.pairs[:TOP_SHOWN], 1) if pair.shared),
            *_left_out(result.skipped, [d for d in students if d.notes])]
    return document(f"Similarity: {a.id}", STYLE + PAGE_STYLE, body, SORT_JS)


def _histogram(result) -> str:
    import numpy as np
    fig = figure(7.0, 3.4)
    ax = fig.add_subplot()
    students = [p.score for p in result.pairs if p.b.kind != "outside"]
    outsiders = [p.score for p in result.pairs if p.b.kind == "outside"]
    top = max([p.score for p in result.pairs] + [0.05])
    bins = np.linspace(0, max(top * 1.02, 0.05), 41)
    ax.hist([students, outsiders] if outsiders else [students], bins=bins, stacked=True,
            color=["#4c78a8", "#f58518"][: 2 if outsiders else 1],
            label=["pairs of students", "student and outside source"][: 2 if outsiders else 1])
    ax.set_yscale("log")
    ax.set_xlabel("score (share of code shared with few others)")
    ax.set_ylabel("pairs")
    ax.set_title("Similarity of every pair")
    ax.legend()
    return image(fig, "histogram of pair scores")


def _table(result, csv_name: str) -> list[str]:
    """The most similar pairs, sortable; the first TOP_SHOWN link to their code below."""
    total = len(result.pairs)
    rows = []
    for rank, pair in enumerate(result.pairs[:TABLE_ROWS], 1):
        link = f"<a href='#pair-{rank}'>{rank}</a>" if rank <= TOP_SHOWN else str(rank)
        other = escape(pair.b.name) + (" <span class='outside'>(outside)</span>"
                                       if pair.b.kind == "outside" else "")
        rows.append(f"<tr><td class='num' data-value='{rank}'>{link}</td>"
                    f"<td>{escape(pair.a.name)}</td><td>{other}</td>"
                    f"<td class='num'>{pair.score:.3f}</td><td class='num'>{pair.a_in_b:.3f}</td>"
                    f"<td class='num'>{pair.b_in_a:.3f}</td><td class='num'>{pair.raw:.3f}</td>"
                    "</tr>")
    return [f"<h2>Most similar pairs</h2><p class='sub'>The {min(TABLE_ROWS, total)} highest of "
            f"{total}; every pair is in <code>{escape(csv_name)}</code>. <span class='legend'>"
            "<mark class='rare'>rare</mark> shared code (few others have it), "
            "<mark class='common'>common</mark> shared code.</span></p>",
            sortable("pairs", [("rank", "#"), ("a", "Submission"), ("b", "Similar to"),
                               ("score", "Score"), ("ainb", "Its code in the other"),
                               ("bina", "The other's in it"), ("raw", "Unweighted")]),
            *rows, "</tbody></table>"]


def _pair_section(number: int, pair: Pair, weight: dict) -> str:
    shared = pair.a.hashes & pair.b.hashes
    rare = {h for h in shared if weight[h] >= RARE}
    return (f"<div class='pair' id='pair-{number}'><h2>{number}. {escape(pair.a.name)} &harr; "
            f"{escape(pair.b.name)}: {pair.score:.2f}</h2>"
            f"<p class='sub'>{pair.shared} shared fingerprints ({len(rare)} rare); "
            f"{pair.a_in_b:.0%} of {escape(pair.a.name)}'s code is rare code found in "
            f"{escape(pair.b.name)}, {pair.b_in_a:.0%} the other way; unweighted overlap "
            f"{pair.raw:.2f}.</p><div class='code'>"
            f"{_side(pair.a, pair.b, rare, shared - rare)}"
            f"{_side(pair.b, pair.a, rare, shared - rare)}</div></div>")


def _side(doc: Document, other: Document, rare: set, common: set) -> str:
    strong, weak = slices(doc, other, rare), slices(doc, other, common)
    shown, quiet = [], []
    for part, s, w in zip(doc.parts, strong, weak):
        if s or w:
            shown.append(f"<h4>{escape(part.label)}</h4><pre>{_marked(part.text, s, w)}</pre>")
        else:
            quiet.append(part.label)
    if quiet:
        shown.append(f"<p class='left'>Nothing shared in: {escape(', '.join(quiet))}</p>")
    who = escape(doc.name) + (" <span class='outside'>(outside source)</span>"
                              if doc.kind == "outside" else "")
    return f"<div><h3>{who}</h3>{''.join(shown)}</div>"


def _marked(text: str, rare: list, common: list) -> str:
    """The text, escaped, with the rare and common matching spans in <mark>s."""
    import numpy as np
    level = np.zeros(len(text) + 1, dtype=np.int8)
    for spans, value in ((common, 1), (rare, 2)):
        for start, end in spans:
            start, end = max(0, start), min(len(text), end)
            level[start:end] = np.maximum(level[start:end], value)
    out, start = [], 0
    changes = np.flatnonzero(np.diff(level[: len(text)])) + 1 if text else []
    for end in list(changes) + [len(text)]:
        chunk = escape(text[start:end])
        kind = level[start]
        out.append(chunk if kind == 0 else
                   f"<mark class='{'rare' if kind == 2 else 'common'}'>{chunk}</mark>")
        start = end
    return "".join(out)


def _left_out(skipped, noted) -> list[str]:
    """The sources left out, and what was left out of the submissions compared."""
    if not skipped and not noted:
        return []
    return ["<h2>Left out, in part or whole</h2><ul>",
            *(f"<li><b>{escape(name)}</b>: {escape(reason)}</li>" for name, reason in skipped),
            *(f"<li><b>{escape(d.name)}</b> (compared): {escape('; '.join(d.notes))}</li>"
              for d in noted),
            "</ul>"]
