"""`grader similarity`: which submissions share code that the rest of the class does not.

    <out>/<assignment>-similarity.html   the most similar pairs, side by side, matches marked
    <out>/<assignment>-similarity.csv    every pair and its scores
    (default <course>/reports/, next to the class report, which links to the page)

For the instructor: nothing of it goes into feedback, the gradebook, a record or a release.

What is compared: per submission, the code the student wrote, that is the assignment's modules
(`layers.py`) and the code cells of the notebook as graded (`grader.structure.rebuild`: the
release's structure with the student's answers and added cells). The released starter code is
boilerplate and never counts. `--against FOLDER` adds known outside solutions (each file or
top-level folder in it is one source, `.py` and `.ipynb`) that every submission is compared
with.

How: copydetect (MOSS's winnowing: Pygments tokens with every name, string and comment folded
away, hashed k-grams) fingerprints each file and cell; renamed variables, changed comments and
layout leave the fingerprints as they were, and reordered functions or code moved between cells
only break the k-grams at the seams. Every k-gram is kept (a winnowing window of 1: classes are
small, and Python salts its string hashes per process, so a wider window would pick different
fingerprints, and give different scores, on every run). Then each shared fingerprint is weighed
by how rare it is in the class: weight log(N / df) / log(N / 2), at most 1, for a fingerprint
that df of the N documents hold -- 1 when only the pair holds it, 0 when everyone does -- so the
simple solutions that the whole class writes alike (`np.maximum(input, 0)`) add little and a
copied idiosyncrasy adds fully. A pair's score is the weighted count of the fingerprints it
shares, over the mean of the two submissions' fingerprint counts: the share of their code that
they, and few others, have in common (1.0: the same code, which nobody else wrote).

Submissions and outside sources are untrusted: a file that is a link, too large, binary or not
a notebook is left out with a reason, and costs only its own submission.
"""
from __future__ import annotations

import copy
import csv
import io
import math
import os
import stat
import sys
from dataclasses import dataclass, field
from pathlib import Path

from . import course, notebooks, structure

K = 25                         # k-gram length in filtered characters (copydetect's noise threshold)
MAX_MODULE_BYTES = 2 * 2 ** 20   # a layers.py is ~15 kB
MAX_CELL_CHARS = 256 * 1024      # one cell's code; larger cells are left out
MAX_OUTSIDE_FILES = 200          # per --against source
RARE = 0.5                       # shared fingerprints at least this heavy are marked "rare"


@dataclass
class Part:
    """One file or cell of a document, with its fingerprints (copydetect.CodeFingerprint)."""
    label: str
    text: str
    fingerprint: object = None


@dataclass
class Document:
    name: str
    kind: str = "student"          # or "outside"
    parts: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    hashes: set = field(default_factory=set)

    @property
    def size(self) -> int:
        return len(self.hashes)


# -- reading untrusted files -------------------------------------------------------------------

def read_text(path: Path, limit: int, name: str) -> tuple[str | None, str | None]:
    """(text, note): the file's text, or None and why it was left out."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return None, f"{name} is missing"
    except OSError as error:
        return None, f"{name} could not be read ({error.strerror})"
    if stat.S_ISLNK(info.st_mode):
        return None, f"{name} is a link (not followed)"
    if not stat.S_ISREG(info.st_mode):
        return None, f"{name} is not a regular file"
    if info.st_size > limit:
        return None, f"{name} is {info.st_size} bytes, over the {limit}-byte limit"
    try:
        with open(path, "rb") as handle:
            data = handle.read(limit + 1)
    except OSError as error:
        return None, f"{name} could not be read ({error.strerror})"
    if b"\0" in data and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return None, f"{name} is not text (binary)"
    text, note = structure._decode(data)
    return text, (f"{name}: {note}" if note else None)


def _cells(nb: dict, release_cells: dict) -> tuple[list[Part], list[str]]:
    """The notebook's code cells that differ from the release's cell of the same grade id."""
    parts, notes = [], []
    for number, cell in enumerate(nb.get("cells", []), 1):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        text = structure._text(cell.get("source"))[0]
        grade_id = structure._grade_id(cell)
        if grade_id in release_cells and release_cells[grade_id] == text:
            continue                                    # given code, as released
        label = f"cell {number}" + (f" ({grade_id[:64]})" if grade_id else "")
        if len(text) > MAX_CELL_CHARS:
            notes.append(f"{label} left out: {len(text)} characters")
            continue
        if text.strip():
            parts.append(Part(label, text))
    return parts, notes


def release_cells(release_nb: dict) -> dict:
    return {notebooks.meta(c)["grade_id"]: notebooks.source(c) for c in release_nb["cells"]
            if c.get("cell_type") == "code" and notebooks.meta(c).get("grade_id")}


def submission(folder: Path, assignment: course.Assignment, release_nb: dict,
               student: str) -> tuple[Document | None, str]:
    """The student's code (modules, then the notebook's cells), or None and why."""
    doc = Document(_readable(student))
    for link in (folder.parent, folder):
        if link.is_symlink():
            return None, f"{link.name} is a link (not followed)"
    for name in assignment.modules:
        text, note = read_text(folder / name, MAX_MODULE_BYTES, name)
        if note:
            doc.notes.append(note)
        if text is not None and text.strip():
            doc.parts.append(Part(name, text))
    nb, findings = structure.rebuild(folder, assignment.notebook, release_nb)
    if nb is None:
        doc.notes.append(findings[0].message if findings else f"{assignment.notebook} missing")
    else:
        doc.notes += [f.message for f in findings if f.kind in ("renamed_notebook", "corrupt_json")]
        parts, notes = _cells(nb, release_cells(release_nb))
        doc.parts += parts
        doc.notes += notes
    if not doc.parts:
        return None, "nothing to compare: " + ("; ".join(doc.notes) or "no code")
    return doc, ""


def outside(folder: Path) -> tuple[list[Document], list[tuple[str, str]]]:
    """Each file or top-level folder of `folder` as one outside source (.py files and the code
    cells of .ipynb files; links are not followed)."""
    docs, skipped = [], []
    for entry in sorted(Path(folder).iterdir()):
        name = _readable(entry.name)
        doc = Document(name, kind="outside")
        if entry.is_symlink():
            skipped.append((name, "a link (not followed)"))
            continue
        files = [entry] if entry.is_file() else _walk(entry) if entry.is_dir() else []
        for path in files[:MAX_OUTSIDE_FILES]:
            label = path.relative_to(folder).as_posix()
            if path.suffix == ".py":
                text, note = read_text(path, MAX_MODULE_BYTES, label)
                if text is not None and text.strip():
                    doc.parts.append(Part(label, text))
            elif path.suffix == ".ipynb":
                text, note = read_text(path, structure.MAX_BYTES, label)
                nb, findings = (structure.parse(text.encode(), label) if text is not None
                                else (None, []))
                note = note or (findings[0].message if nb is None and findings else None)
                if nb is not None:
                    parts, notes = _cells(nb, {})
                    doc.parts += [Part(f"{label} {p.label}", p.text) for p in parts]
                    doc.notes += notes
            else:
                continue
            if note:
                doc.notes.append(note)
        if doc.parts:
            docs.append(doc)
        else:
            skipped.append((name, "no Python code (.py or .ipynb) in it"))
    return docs, skipped


def _walk(folder: Path) -> list[Path]:
    found = []
    for here, dirs, files in os.walk(folder, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found += [Path(here) / f for f in sorted(files) if f.endswith((".py", ".ipynb"))
                  and not (Path(here) / f).is_symlink()]
        if len(found) >= MAX_OUTSIDE_FILES:
            break
    return found


# -- fingerprints and scores -------------------------------------------------------------------

def fingerprint(text: str, label: str = "code.py"):
    from copydetect import CodeFingerprint
    return CodeFingerprint(label, K, 1, fp=io.StringIO(text), language="python")


def boilerplate(release_dir: Path, assignment: course.Assignment, release_nb: dict) -> set:
    """The fingerprints of the released starter code: modules and every code cell."""
    found = set()
    for name in assignment.modules:
        text, _ = read_text(release_dir / name, MAX_MODULE_BYTES, name)
        if text:
            found |= fingerprint(text).hashes
    for text in release_cells(release_nb).values():
        found |= fingerprint(text).hashes
    return found


def fingerprint_all(docs: list[Document], common: set):
    for doc in docs:
        doc.hashes = set()
        for part in doc.parts:
            part.fingerprint = fingerprint(part.text)
            doc.hashes |= part.fingerprint.hashes
        doc.hashes -= common


def weights(docs: list[Document]) -> dict:
    """Fingerprint -> weight in [0, 1]: 1 if at most two documents hold it, 0 if all do."""
    counts = {}
    for doc in docs:
        for h in doc.hashes:
            counts[h] = counts.get(h, 0) + 1
    n = len(docs)
    if n <= 2:
        return dict.fromkeys(counts, 1.0)
    scale = math.log(n / 2)
    return {h: min(1.0, math.log(n / df) / scale) for h, df in counts.items()}


@dataclass
class Pair:
    a: Document
    b: Document
    score: float          # weighted shared fingerprints / mean size
    a_in_b: float         # weighted share of a's fingerprints that b holds
    b_in_a: float
    raw: float            # unweighted: shared / mean size
    shared: int           # shared fingerprints


def pairs(docs: list[Document], weight: dict) -> list[Pair]:
    """Every pair of student documents and every student-outside pair, most similar first."""
    import numpy as np
    from scipy import sparse
    index = {h: i for i, h in enumerate(weight)}
    rows, cols = [], []
    for r, doc in enumerate(docs):
        cols += [index[h] for h in doc.hashes]
        rows += [r] * len(doc.hashes)
    x = sparse.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(docs), len(index)))
    w = np.array([weight[h] for h in index])
    shared_weight = (x.multiply(w) @ x.T).toarray()
    shared = (x @ x.T).toarray()
    sizes = np.array([doc.size for doc in docs], dtype=float)
    found = []
    for i in range(len(docs)):
        for j in range(i + 1, len(docs)):
            a, b = docs[i], docs[j]
            if a.kind == "outside" and b.kind == "outside":
                continue
            if a.kind == "outside":
                a, b, i2, j2 = b, a, j, i
            else:
                i2, j2 = i, j
            mean = max((sizes[i2] + sizes[j2]) / 2, 1.0)
            found.append(Pair(a, b, shared_weight[i2, j2] / mean,
                              shared_weight[i2, j2] / max(sizes[i2], 1.0),
                              shared_weight[i2, j2] / max(sizes[j2], 1.0),
                              shared[i2, j2] / mean, int(shared[i2, j2])))
    found.sort(key=lambda p: (-p.score, p.a.name, p.b.name))
    return found


def slices(doc: Document, other: Document, keep: set) -> list[list[tuple[int, int]]]:
    """Per part of `doc`, the character spans that match `other` through fingerprints in `keep`
    (copydetect's overlap slices, mapped back to the unfiltered text)."""
    from copydetect.detector import compare_files
    spans = []
    for part in doc.parts:
        mine = copy.copy(part.fingerprint)
        mine.hashes = part.fingerprint.hashes & keep
        found = []
        if mine.hashes:
            for theirs in other.parts:
                if mine.hashes & theirs.fingerprint.hashes:
                    _, _, (ours, _) = compare_files(mine, theirs.fingerprint)
                    found += list(zip(ours[0].tolist(), ours[1].tolist()))
        spans.append(_merge(found))
    return spans


def _merge(spans):
    merged = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((int(start), int(end)))
    return merged


# -- the run -----------------------------------------------------------------------------------

@dataclass
class Result:
    assignment: course.Assignment
    docs: list
    pairs: list
    weight: dict
    skipped: list          # (name, reason)


def analyse(root: Path, assignment: course.Assignment, against: Path | None = None,
            students=None) -> Result:
    root = Path(root)
    release_dir = root / "release" / assignment.id
    if not (release_dir / assignment.notebook).is_file():
        raise SystemExit(f"{assignment.id} has not been released in {root}: "
                         f"run `grader release --course-dir {root}` first")
    release_nb = notebooks.load(release_dir / assignment.notebook)
    docs, skipped = [], []
    base = root / "submitted"
    for student in students or sorted(p.parent.name for p in base.glob(f"*/{assignment.id}")):
        doc, reason = submission(base / student / assignment.id, assignment, release_nb, student)
        if doc is None:
            skipped.append((_readable(student), reason))
        else:
            docs.append(doc)
    if against is not None:
        found, left = outside(Path(against))
        docs += found
        skipped += [(f"{name} (outside)", why) for name, why in left]
    fingerprint_all(docs, boilerplate(release_dir, assignment, release_nb))
    weight = weights(docs)
    return Result(assignment, docs, pairs(docs, weight), weight, skipped)


# -- the page and the CSV ----------------------------------------------------------------------

TOP_SHOWN = 12         # pairs shown side by side
TABLE_ROWS = 60        # pairs listed in the table (the CSV has every pair)

PAGE_STYLE = """
.code { display: grid; grid-template-columns: minmax(0, 1fr) minmax(0, 1fr); gap: .8em; }
.code h4 { margin: .6em 0 .2em; font-size: .95em; }
pre { background: #f7f7f9; border: 1px solid #e3e3e8; padding: .5em; overflow: auto;
      max-height: 32em; font-size: 12px; line-height: 1.35; margin: 0; white-space: pre; }
mark.rare { background: #ffb3a7; } mark.common { background: #fde9a8; }
.legend mark { padding: 0 .4em; } .pair { border-top: 2px solid #ddd; margin-top: 1.5em; }
.outside { color: #8a4b00; } .left { color: #666; font-size: .9em; }
"""


def page_name(assignment_id: str) -> str:
    return f"{assignment_id}-similarity.html"


def csv_name(assignment_id: str) -> str:
    return f"{assignment_id}-similarity.csv"


def _marked(text: str, rare: list, common: list) -> str:
    """The text, escaped, with the rare and common matching spans in <mark>s."""
    import numpy as np

    from .report import _e
    level = np.zeros(len(text) + 1, dtype=np.int8)
    for spans, value in ((common, 1), (rare, 2)):
        for start, end in spans:
            start, end = max(0, start), min(len(text), end)
            level[start:end] = np.maximum(level[start:end], value)
    out, start = [], 0
    changes = np.flatnonzero(np.diff(level[: len(text)])) + 1 if text else []
    for end in list(changes) + [len(text)]:
        chunk = _e(text[start:end])
        kind = level[start]
        out.append(chunk if kind == 0 else
                   f"<mark class='{'rare' if kind == 2 else 'common'}'>{chunk}</mark>")
        start = end
    return "".join(out)


def _side(doc: Document, other: Document, rare: set, common: set) -> str:
    from .report import _e
    strong, weak = slices(doc, other, rare), slices(doc, other, common)
    shown, quiet = [], []
    for part, s, w in zip(doc.parts, strong, weak):
        if s or w:
            shown.append(f"<h4>{_e(part.label)}</h4><pre>{_marked(part.text, s, w)}</pre>")
        else:
            quiet.append(part.label)
    if quiet:
        shown.append(f"<p class='left'>Nothing shared in: {_e(', '.join(quiet))}</p>")
    who = f"{_e(doc.name)}" + (" <span class='outside'>(outside source)</span>"
                              if doc.kind == "outside" else "")
    return f"<div><h3>{who}</h3>{''.join(shown)}</div>"


def _pair_section(number: int, pair: Pair, weight: dict) -> str:
    from .report import _e
    shared = pair.a.hashes & pair.b.hashes
    rare = {h for h in shared if weight[h] >= RARE}
    return (f"<div class='pair' id='pair-{number}'><h2>{number}. {_e(pair.a.name)} &harr; "
            f"{_e(pair.b.name)}: {pair.score:.2f}</h2>"
            f"<p class='sub'>{pair.shared} shared fingerprints ({len(rare)} rare); "
            f"{pair.a_in_b:.0%} of {_e(pair.a.name)}'s code is rare code found in "
            f"{_e(pair.b.name)}, {pair.b_in_a:.0%} the other way; unweighted overlap "
            f"{pair.raw:.2f}.</p><div class='code'>"
            f"{_side(pair.a, pair.b, rare, shared - rare)}"
            f"{_side(pair.b, pair.a, rare, shared - rare)}</div></div>")


def _histogram(result: Result) -> str:
    import numpy as np

    from .report import _figure, _img
    fig = _figure(7.0, 3.4)
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
    return _img(fig, "histogram of pair scores")


def render(result: Result) -> str:
    import numpy as np

    from .report import SORT_JS, STYLE, _e
    students = [d for d in result.docs if d.kind == "student"]
    sources = [d for d in result.docs if d.kind == "outside"]
    scores = [p.score for p in result.pairs]
    cards = [("submissions compared", len(students)), ("outside sources", len(sources)),
             ("pairs", len(result.pairs)), ("left out", len(result.skipped)),
             ("highest score", f"{max(scores):.2f}" if scores else "-"),
             ("median score", f"{float(np.median(scores)):.2f}" if scores else "-")]
    a = result.assignment
    parts = ["<!DOCTYPE html>", "<html lang='en'><head><meta charset='utf-8'>",
             f"<title>Similarity: {_e(a.id)}</title>",
             f"<style>{STYLE}{PAGE_STYLE}</style></head><body>",
             f"<h1>{_e(a.title)}: similar submissions</h1>",
             f"<p class='sub'>For the course staff only. <code>{_e(a.id)}</code>: every pair of "
             "submissions, and every submission against each outside source, compared on the "
             "code students wrote (the modules and the notebook's code cells; the released "
             "starter code does not count). Renamed variables, comments, layout, reordered "
             "functions and code moved between cells do not hide a match. A score weighs each "
             "shared piece of code by how rare it is in the class: 1.00 is the same code, "
             "written by nobody else; code most of the class wrote alike counts for little. "
             "A high score is a reason to look, not a proof.</p>",
             "<div class='cards'>" + "".join(f"<div class='card'><b>{_e(v)}</b>{_e(k)}</div>"
                                             for k, v in cards) + "</div>",
             "<div class='figs'>", _histogram(result) if scores else "", "</div>"]
    parts.append(f"<h2>Most similar pairs</h2><p class='sub'>The {min(TABLE_ROWS, len(scores))}"
                 f" highest of {len(scores)}; every pair is in <code>{_e(csv_name(a.id))}</code>."
                 " <span class='legend'><mark class='rare'>rare</mark> shared code (few others "
                 "have it), <mark class='common'>common</mark> shared code.</span></p>")
    parts.append("<table class='sortable' id='pairs'><thead><tr><th data-key='rank'>#</th>"
                 "<th data-key='a'>Submission</th><th data-key='b'>Similar to</th>"
                 "<th data-key='score'>Score</th><th data-key='ainb'>Its code in the other</th>"
                 "<th data-key='bina'>The other's in it</th><th data-key='raw'>Unweighted</th>"
                 "</tr></thead><tbody>")
    for rank, pair in enumerate(result.pairs[:TABLE_ROWS], 1):
        link = (f"<a href='#pair-{rank}'>{rank}</a>" if rank <= TOP_SHOWN else str(rank))
        other = _e(pair.b.name) + (" <span class='outside'>(outside)</span>"
                                   if pair.b.kind == "outside" else "")
        parts.append(f"<tr><td class='num' data-value='{rank}'>{link}</td>"
                     f"<td>{_e(pair.a.name)}</td><td>{other}</td>"
                     f"<td class='num'>{pair.score:.3f}</td><td class='num'>{pair.a_in_b:.3f}</td>"
                     f"<td class='num'>{pair.b_in_a:.3f}</td><td class='num'>{pair.raw:.3f}</td>"
                     "</tr>")
    parts.append("</tbody></table>")
    for rank, pair in enumerate(result.pairs[:TOP_SHOWN], 1):
        if pair.shared:
            parts.append(_pair_section(rank, pair, result.weight))
    noted = [d for d in students if d.notes]
    if result.skipped or noted:
        parts.append("<h2>Left out, in part or whole</h2><ul>")
        parts += [f"<li><b>{_e(name)}</b>: {_e(reason)}</li>" for name, reason in result.skipped]
        parts += [f"<li><b>{_e(d.name)}</b> (compared): {_e('; '.join(d.notes))}</li>"
                  for d in noted]
        parts.append("</ul>")
    parts.append(f"<script>{SORT_JS}</script></body></html>")
    return "\n".join(parts)


def _cell(value) -> str:
    """A CSV field that a spreadsheet will not run as a formula."""
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def write_csv(result: Result, path: Path):
    with open(path, "w", newline="", encoding="utf-8", errors="replace") as handle:
        out = csv.writer(handle)
        out.writerow(["rank", "submission", "similar_to", "kind", "score", "its_code_in_other",
                      "others_code_in_it", "unweighted", "shared_fingerprints"])
        for rank, p in enumerate(result.pairs, 1):
            out.writerow([rank, _cell(p.a.name), _cell(p.b.name),
                          "outside" if p.b.kind == "outside" else "student",
                          f"{p.score:.4f}", f"{p.a_in_b:.4f}", f"{p.b_in_a:.4f}",
                          f"{p.raw:.4f}", p.shared])


def similarity(root: Path, assignment_ids=None, against: Path | None = None,
               out: Path | None = None, log=print) -> list[Path]:
    root = Path(root)
    out = Path(out) if out is not None else root / "reports"
    ids = assignment_ids or [a.id for a in course.ASSIGNMENTS.values()
                             if any((root / "submitted").glob(f"*/{a.id}"))]
    written = []
    for assignment in (course.get(i) for i in ids):
        result = analyse(root, assignment, against)
        if not [d for d in result.docs if d.kind == "student"]:
            log(f"{assignment.id}: no submission with code to compare")
            continue
        out.mkdir(parents=True, exist_ok=True)
        page = out / page_name(assignment.id)
        page.write_text(render(result), encoding="utf-8", errors="replace")   # lone surrogates
        write_csv(result, out / csv_name(assignment.id))
        written.append(page)
        top = result.pairs[0] if result.pairs else None
        log(f"{assignment.id}: {len(result.docs)} compared, {len(result.skipped)} left out"
            + (f"; most similar {_safe(top.a.name)} ~ {_safe(top.b.name)} {top.score:.2f}"
               if top else "") + f" -> {page}")
        if (out / f"{assignment.id}.html").exists():     # the class report links to the page
            from . import report
            report.report(root, [assignment.id], out, log=lambda *_: None)
    return written


def _readable(name: str) -> str:
    """A file name as text: bytes that are not UTF-8 (os.fsdecode's surrogates) replaced."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _safe(name: str) -> str:
    """A name as a terminal may print it (no control characters)."""
    return name.encode("unicode_escape").decode("ascii") if not name.isprintable() else name


def add_arguments(parser):
    parser.add_argument("assignments", nargs="*", help="default: every assignment with "
                        "submissions")
    parser.add_argument("--course-dir", type=Path, default=course.BUILD / "course")
    parser.add_argument("--against", type=Path, help="a folder of known outside solutions "
                        "(each file or top-level folder is one source)")
    parser.add_argument("--out", type=Path, help="folder for the pages and CSVs (default "
                        "<course-dir>/reports, next to the class report)")


def run(args) -> int:
    if args.against is not None and not args.against.is_dir():
        print(f"grader similarity: --against {args.against} is not a folder", file=sys.stderr)
        return 2
    written = similarity(args.course_dir, args.assignments or None, args.against, args.out)
    if not written:
        print(f"grader similarity: no submission to compare in {args.course_dir}",
              file=sys.stderr)
        return 1
    return 0
