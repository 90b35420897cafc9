"""`grader report`: one self-contained HTML page per assignment, for the instructor.

    <out>/<assignment>.html        (default <course>/reports/)

From the results records: the score histogram, how often each check failed (which bug tripped
most of the class, with its most common message), the time each submission took, the flagged
and zero-scored submissions, and a student table that sorts by any column (a few lines of
inline JavaScript; open `...html#sort=score-desc` to start sorted). Figures are matplotlib PNGs
embedded as base64: the page needs no network and no other file.
"""
from __future__ import annotations

import base64
import html
import io
import re
import statistics
from collections import Counter
from pathlib import Path

from . import course
from .feedback import graded, tasks

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


def _e(text) -> str:
    return html.escape(str(text))


def _g(n) -> str:
    return f"{float(n):g}"


def _png(fig) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _figure(width, height):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def _img(fig, alt) -> str:
    fig.tight_layout()
    return f"<img alt='{_e(alt)}' src='data:image/png;base64,{_png(fig)}'>"


def ran(record) -> bool:
    """The submission's code was actually tested (not zero-filled, setup cell ran)."""
    return record.get("status") == "graded"


def instructor_message(check: dict) -> str:
    """The full message for staff: the hidden test's own when there is one."""
    text = check.get("hidden_message") or check.get("message") or check.get("public_message") or ""
    return re.sub(r"^(?:AssertionError:\s*)?\[FAIL\]\s*[\w.]+:\s*", "", text.strip())


def _shape(message: str) -> str:
    """A message with its numbers blanked, so that one bug's messages group together."""
    return re.sub(r"-?\d+(?:\.\d+)?(?:e[-+]?\d+)?", "#", message)


def check_stats(recs: list[dict], task_names: dict) -> list[dict]:
    """Per check, over the submissions that ran: failure rate and the most common message."""
    tested = [r for r in recs if ran(r)]
    checks = list(dict.fromkeys(c for r in recs for c in r.get("checks", {})))
    stats = []
    for check_id in checks:
        results = [r["checks"][check_id] for r in tested if check_id in r.get("checks", {})]
        failures = [c for c in results if not c.get("passed")]
        shapes = Counter(_shape(instructor_message(c)) for c in failures)
        common, count = shapes.most_common(1)[0] if shapes else ("", 0)
        example = next((instructor_message(c) for c in failures
                        if _shape(instructor_message(c)) == common), "")
        maximum = max((c.get("max_points", 0) for c in results), default=0)
        stats.append({"check": check_id, "task": task_names.get(check_id, check_id),
                      "max_points": maximum, "tested": len(results), "failed": len(failures),
                      "rate": len(failures) / len(results) if results else 0.0,
                      "example": example, "example_count": count})
    return stats


def _histogram(recs, max_total):
    fig = _figure(5.6, 3.4)
    ax = fig.add_subplot()
    totals = [r.get("total", 0) for r in recs]
    top = max(max_total, max(totals, default=0), 1)
    bins = min(int(top) + 1, 40)
    ax.hist(totals, bins=bins, range=(0, top), color="#4c78a8", edgecolor="white")
    if totals:
        mean = statistics.fmean(totals)
        ax.axvline(mean, color="#e45756", linestyle="--", label=f"mean {mean:.1f}")
        ax.legend()
    ax.set_xlabel(f"autograded points (of {max_total:g})")
    ax.set_ylabel("submissions")
    ax.set_title("Score distribution")
    return _img(fig, "score histogram")


def _barh(ax, labels, values, **style):
    """Horizontal bars labelled with names drawn as plain text: a student id is untrusted, and
    matplotlib would parse "$...$" in it as mathtext (and fail on a malformed one)."""
    ax.barh(range(len(labels)), values, **style)
    ax.set_yticks(range(len(labels)))
    ax.set_yticklabels([str(label) for label in labels], parse_math=False)


def _failure_chart(stats):
    fig = _figure(5.6, max(2.4, 0.26 * len(stats) + 1.2))
    ax = fig.add_subplot()
    ordered = sorted(stats, key=lambda s: s["rate"])
    _barh(ax, [f"{s['check']} ({s['task']})" for s in ordered],
          [100 * s["rate"] for s in ordered], color="#e45756")
    ax.set_xlim(0, 100)
    ax.set_xlabel("% of tested submissions failing")
    ax.set_title("Failure rate per check")
    ax.tick_params(axis="y", labelsize=8)
    return _img(fig, "failure rate per check")


def _time_chart(recs):
    fig = _figure(5.6, max(2.4, 0.22 * len(recs) + 1.2) if len(recs) <= 40 else 3.4)
    ax = fig.add_subplot()
    seconds = [float(r.get("seconds", 0)) for r in recs]
    if len(recs) <= 40:
        ordered = sorted(zip(seconds, [r["student"] for r in recs]))
        _barh(ax, [s for _, s in ordered], [t for t, _ in ordered], color="#72b7b2")
        ax.set_xlabel("seconds")
        ax.tick_params(axis="y", labelsize=8)
    else:
        ax.hist(seconds, bins=30, color="#72b7b2", edgecolor="white")
        ax.set_xlabel("seconds")
        ax.set_ylabel("submissions")
    ax.set_title("Grading time per submission")
    return _img(fig, "time per submission")


def group_events(recs: list[dict]) -> list[tuple[str, list[str]]]:
    """(an example, the students) per kind of event: events that differ only in their numbers
    (a cell index, a time) are one line, most frequent first."""
    groups = {}
    for r in recs:
        for event in [*r.get("events", []), *r.get("notes", [])]:
            example, students = groups.setdefault(_shape(event), (event, []))
            if r["student"] not in students:
                students.append(r["student"])
    return sorted(groups.values(), key=lambda g: -len(g[1]))


def _hand(status) -> tuple[str, float]:
    """A student's hand grading as the table shows it, and its sort key."""
    if status is None:
        return "", -1
    done, maximum, pending = status
    text = f"{_g(done)} / {_g(maximum)} by hand"
    return (text + (f" ({pending} to grade)" if pending else ""), pending)


def render(assignment: course.Assignment, recs: list[dict], task_names: dict,
           hand: dict | None = None, links: dict | None = None, pages=()) -> str:
    """The page. `hand`: student -> (points, max, cells still to grade) of the cells graded by
    hand (the gradebook's); `links`: student -> the feedback page, relative to this page;
    `pages`: (href, title) of the pages beside it (the similarity report)."""
    hand, links = hand or {}, links or {}
    stats = check_stats(recs, task_names)
    max_total = max((r.get("max_total", 0) for r in recs), default=0)
    totals = [r.get("total", 0) for r in recs]
    tested = [r for r in recs if ran(r)]
    flagged = [r for r in recs if r.get("flags")]
    not_tested = [r for r in recs if not ran(r)]
    cards = [("submissions", len(recs)), ("tested", len(tested)),
             ("mean", f"{statistics.fmean(totals):.1f}" if totals else "-"),
             ("median", f"{statistics.median(totals):g}" if totals else "-"),
             ("full marks", sum(1 for t in totals if max_total and t >= max_total)),
             ("flagged", len(flagged)),
             ("to grade by hand", sum(1 for v in hand.values() if v[2]) if hand else "-"),
             ("mean time", f"{statistics.fmean(float(r.get('seconds', 0)) for r in recs):.1f} s"
              if recs else "-")]
    parts = ["<!DOCTYPE html>", "<html lang='en'><head><meta charset='utf-8'>",
             f"<title>Class report: {_e(assignment.id)}</title>",
             f"<style>{STYLE}</style></head><body>",
             f"<h1>{_e(assignment.title)}</h1>",
             f"<p class='sub'>Class report for <code>{_e(assignment.id)}</code>: "
             f"{len(recs)} submissions, autograded out of {_g(max_total)} points</p>",
             *(f"<p class='sub'><a href='{_e(href)}'>{_e(text)}</a></p>" for href, text in pages),
             "<div class='cards'>" + "".join(f"<div class='card'><b>{_e(v)}</b>{_e(k)}</div>"
                                             for k, v in cards) + "</div>",
             "<div class='figs'>", _histogram(recs, max_total), _failure_chart(stats),
             _time_chart(recs), "</div>"]

    worst = sorted(stats, key=lambda s: -s["rate"])
    parts.append(f"<h2>Checks, most failed first</h2><p class='sub'>Over the {len(tested)} "
                 "submissions whose code ran (zero-filled submissions and failed setup cells "
                 "are left out).</p>")
    parts.append("<table class='sortable' id='checks'><thead><tr>"
                 "<th data-key='check'>Check</th><th data-key='task'>Task</th>"
                 "<th data-key='points'>Points</th><th data-key='failed'>Failed</th>"
                 "<th data-key='rate'>Rate</th><th data-key='message'>Most common failure"
                 "</th></tr></thead><tbody>")
    for s in worst:
        example = (f"{_e(s['example'][:300])} <i>({s['example_count']}&times;)</i>"
                   if s["example"] else "")
        parts.append(f"<tr><td><code>{_e(s['check'])}</code></td><td>{_e(s['task'])}</td>"
                     f"<td class='num'>{_g(s['max_points'])}</td>"
                     f"<td class='num'>{s['failed']} / {s['tested']}</td>"
                     f"<td class='num' data-value='{s['rate']:.4f}'>{s['rate']:.0%}</td>"
                     f"<td class='msg'>{example}</td></tr>")
    parts.append("</tbody></table>")

    parts.append("<h2>Flagged submissions</h2>")
    if flagged:
        parts.append("<p class='sub'>Possibly tampered with, or otherwise worth a look:</p><ul>"
                     + "".join(f"<li><b>{_e(r['student'])}</b>: "
                               + "; ".join(_e(f) for f in r["flags"]) + "</li>" for r in flagged)
                     + "</ul>")
    else:
        parts.append("<p>None.</p>")
    if not_tested:
        parts.append("<h2>Not tested</h2><ul>" + "".join(
            f"<li><b>{_e(r['student'])}</b>: {_e(r.get('status', ''))}</li>"
            for r in not_tested) + "</ul>")
    weak = [r["student"] for r in recs if r.get("isolation") == "weak"]
    if weak:
        parts.append(f"<div class='note flag' id='isolation'><b>Weak isolation</b>: "
                     f"{len(weak)} submission{'s' if len(weak) != 1 else ''} graded without "
                     "namespaces (explicit opt-in): student code could see this machine's "
                     "files and network. " + ", ".join(_e(s) for s in weak) + "</div>")
    groups = group_events(recs)
    if groups:
        parts.append("<h2>Events</h2><p class='sub'>What happened while grading, grouped: "
                     "events that differ only in a number are one line.</p><ul>" + "".join(
                         f"<li><b>{len(students)} submission{'s' if len(students) != 1 else ''}"
                         f"</b>: {_e(example[:400])}<details><summary>who</summary>"
                         f"{_e(', '.join(students))}</details></li>"
                         for example, students in groups) + "</ul>")

    parts.append("<h2>Students</h2><table class='sortable' id='students'><thead><tr>"
                 "<th data-key='student'>Student</th><th data-key='score'>Score</th>"
                 "<th data-key='percent'>%</th><th data-key='seconds'>Time (s)</th>"
                 "<th data-key='failed'>Failed checks</th><th data-key='hand'>Graded by hand"
                 "</th><th data-key='status'>Status</th><th data-key='isolation'>Isolation</th>"
                 "<th data-key='flags'>Flags</th></tr></thead><tbody>")
    for r in sorted(recs, key=lambda r: r["student"]):
        total, maximum = r.get("total", 0), r.get("max_total", 0) or 0
        failed = [c for c, v in r.get("checks", {}).items() if not v.get("passed")]
        percent = 100 * total / maximum if maximum else 0
        student = r["student"]
        name = (f"<a href='{_e(links[student])}'>{_e(student)}</a>" if student in links
                else _e(student))
        by_hand, pending = _hand(hand.get(student))
        parts.append(
            f"<tr><td data-value='{_e(student)}'>{name}</td>"
            f"<td class='num' data-value='{_g(total)}'>{_g(total)} / {_g(maximum)}</td>"
            f"<td class='num' data-value='{percent:.2f}'>{percent:.0f}</td>"
            f"<td class='num'>{float(r.get('seconds', 0)):.1f}</td>"
            f"<td class='num' data-value='{len(failed)}' title='{_e(', '.join(failed))}'>"
            f"{len(failed)}</td><td data-value='{pending}'>{_e(by_hand)}</td>"
            f"<td>{_e(r.get('status', ''))}</td>"
            f"<td class='{'flag' if r.get('isolation') == 'weak' else ''}'>"
            f"{_e(r.get('isolation', ''))}</td>"
            f"<td class='flag'>{_e('; '.join(r.get('flags', [])))}</td></tr>")
    parts.append("</tbody></table>")
    parts.append(f"<script>{SORT_JS}</script></body></html>")
    return "\n".join(parts)


def hand_grading(root: Path, assignment_id: str) -> dict:
    """student -> (points, max, cells still to grade) of the cells graded by hand, from the
    gradebook (formgrader writes there)."""
    from .export import grades
    return {g.student: (g.hand_graded, g.hand_graded_max, g.to_grade)
            for g in grades(root, [assignment_id]) if g.submitted}


def report(root: Path, assignment_ids=None, out: Path | None = None, log=print) -> list[Path]:
    import os

    from .feedback import page_path
    root = Path(root)
    by_assignment = {}
    for assignment, record in graded(root, assignment_ids):
        by_assignment.setdefault(assignment.id, (assignment, []))[1].append(record)
    out = Path(out) if out is not None else root / "reports"
    written = []
    missing_feedback = 0
    for assignment, recs in by_assignment.values():
        out.mkdir(parents=True, exist_ok=True)
        links = {}
        for r in recs:
            page = page_path(root, assignment.id, r["student"])
            if page.is_file():
                links[r["student"]] = os.path.relpath(page, out)
            else:
                missing_feedback += 1
        path = out / f"{assignment.id}.html"
        similar = out / f"{assignment.id}-similarity.html"      # by `grader similarity`
        pages = [(similar.name, "Similar submissions")] if similar.exists() else []
        path.write_text(render(assignment, recs, tasks(assignment),
                               hand_grading(root, assignment.id), links, pages))
        written.append(path)
        log(f"{assignment.id}: {len(recs)} submissions -> {path}")
    if missing_feedback:
        log(f"{missing_feedback} students have no feedback page to link to yet: run "
            f"`grader feedback --course-dir {root}`, then the report again")
    return written


def add_arguments(parser):
    parser.add_argument("assignments", nargs="*", help="default: every graded assignment")
    parser.add_argument("--course-dir", type=Path, default=course.DEFAULT_COURSE,
                        help=f"default: {course.DEFAULT_COURSE}")
    parser.add_argument("--out", type=Path, help="folder for the pages (default "
                        "<course-dir>/reports)")


def run(args) -> int:
    report(args.course_dir, args.assignments or None, args.out)
    return 0
