"""`grader report`: one self-contained HTML page per assignment, for the instructor.

    <out>/<assignment>.html        (default <course>/reports/)

From the results records: the score histogram, how often each check failed (which bug tripped
most of the class, with its most common message), the time each submission took, the flagged
and zero-scored submissions, and a student table that sorts by any column (a few lines of
inline JavaScript; open `...html#sort=score-desc` to start sorted). Figures are matplotlib PNGs
embedded as base64: the page needs no network and no other file.
"""
from __future__ import annotations

import os
import re
import statistics
from collections import Counter
from pathlib import Path

from . import course, similarity
from .feedback import bare_message, graded, page_path, tasks
from .nncheck.cells import points_text
from .pages import STYLE, SORT_JS, cards, document, escape, figure, image, sortable


def ran(record) -> bool:
    """The submission's code was actually tested (not zero-filled, setup cell ran)."""
    return record.get("status") == "graded"


def instructor_message(check: dict) -> str:
    """The full message for staff: the hidden test's own when there is one."""
    return bare_message(check.get("hidden_message") or check.get("message")
                        or check.get("public_message") or "")


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
    fig = figure(5.6, 3.4)
    ax = fig.add_subplot()
    totals = [r.get("total", 0) for r in recs]
    top = max(max_total, max(totals, default=0), 1)
    bins = min(int(top) + 1, 40)
    ax.hist(totals, bins=bins, range=(0, top), color="#4c78a8", edgecolor="white")
    if totals:
        mean = statistics.fmean(totals)
        ax.axvline(mean, color="#e45756", linestyle="--", label=f"mean {mean:.1f}")
        ax.legend()
    ax.set_xlabel(f"autograded points (of {points_text(max_total)})")
    ax.set_ylabel("submissions")
    ax.set_title("Score distribution")
    return image(fig, "score histogram")


def _barh(ax, labels, values, **style):
    """Horizontal bars labelled with names drawn as plain text: a student id is untrusted, and
    matplotlib would parse "$...$" in it as mathtext (and fail on a malformed one)."""
    ax.barh(range(len(labels)), values, **style)
    ax.set_yticks(range(len(labels)))
    ax.set_yticklabels([str(label) for label in labels], parse_math=False)


def _failure_chart(stats):
    fig = figure(5.6, max(2.4, 0.26 * len(stats) + 1.2))
    ax = fig.add_subplot()
    ordered = sorted(stats, key=lambda s: s["rate"])
    _barh(ax, [f"{s['check']} ({s['task']})" for s in ordered],
          [100 * s["rate"] for s in ordered], color="#e45756")
    ax.set_xlim(0, 100)
    ax.set_xlabel("% of tested submissions failing")
    ax.set_title("Failure rate per check")
    ax.tick_params(axis="y", labelsize=8)
    return image(fig, "failure rate per check")


def _time_chart(recs):
    fig = figure(5.6, max(2.4, 0.22 * len(recs) + 1.2) if len(recs) <= 40 else 3.4)
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
    return image(fig, "time per submission")


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


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'s' if count != 1 else ''}"


# -- the page: its sections, top to bottom ----------------------------------------------------

def render(assignment: course.Assignment, recs: list[dict], task_names: dict,
           hand: dict | None = None, links: dict | None = None, pages=()) -> str:
    """The page. `hand`: student -> (points, max, cells still to grade) of the cells graded by
    hand (the gradebook's); `links`: student -> the feedback page, relative to this page;
    `pages`: (href, title) of the pages beside it (the similarity report)."""
    hand, links = hand or {}, links or {}
    stats = check_stats(recs, task_names)
    max_total = max((r.get("max_total", 0) for r in recs), default=0)
    body = [*_heading(assignment, recs, max_total, pages),
            _summary(recs, hand, max_total),
            "<div class='figs'>", _histogram(recs, max_total), _failure_chart(stats),
            _time_chart(recs), "</div>",
            *_checks(stats, recs), *_flagged(recs), *_not_tested(recs), *_weak_isolation(recs),
            *_events(recs), *_students(recs, hand, links)]
    return document(f"Class report: {assignment.id}", STYLE, body, SORT_JS)


def _heading(assignment, recs, max_total, pages) -> list[str]:
    return [f"<h1>{escape(assignment.title)}</h1>",
            f"<p class='sub'>Class report for <code>{escape(assignment.id)}</code>: "
            f"{len(recs)} submissions, autograded out of {points_text(max_total)} points</p>",
            *(f"<p class='sub'><a href='{escape(href)}'>{escape(text)}</a></p>"
              for href, text in pages)]


def _summary(recs, hand, max_total) -> str:
    totals = [r.get("total", 0) for r in recs]
    return cards([
        ("submissions", len(recs)), ("tested", sum(1 for r in recs if ran(r))),
        ("mean", f"{statistics.fmean(totals):.1f}" if totals else "-"),
        ("median", points_text(statistics.median(totals)) if totals else "-"),
        ("full marks", sum(1 for t in totals if max_total and t >= max_total)),
        ("flagged", sum(1 for r in recs if r.get("flags"))),
        ("to grade by hand", sum(1 for v in hand.values() if v[2]) if hand else "-"),
        ("mean time", f"{statistics.fmean(float(r.get('seconds', 0)) for r in recs):.1f} s"
         if recs else "-")])


def _checks(stats, recs) -> list[str]:
    """The checks, most failed first, with the most common message of their failures."""
    rows = []
    for s in sorted(stats, key=lambda s: -s["rate"]):
        example = (f"{escape(s['example'][:300])} <i>({s['example_count']}&times;)</i>"
                   if s["example"] else "")
        rows.append(f"<tr><td><code>{escape(s['check'])}</code></td><td>{escape(s['task'])}</td>"
                    f"<td class='num'>{points_text(s['max_points'])}</td>"
                    f"<td class='num'>{s['failed']} / {s['tested']}</td>"
                    f"<td class='num' data-value='{s['rate']:.4f}'>{s['rate']:.0%}</td>"
                    f"<td class='msg'>{example}</td></tr>")
    return [f"<h2>Checks, most failed first</h2><p class='sub'>Over the "
            f"{sum(1 for r in recs if ran(r))} submissions whose code ran (zero-filled "
            "submissions and failed setup cells are left out).</p>",
            sortable("checks", [("check", "Check"), ("task", "Task"), ("points", "Points"),
                                ("failed", "Failed"), ("rate", "Rate"),
                                ("message", "Most common failure")]),
            *rows, "</tbody></table>"]


def _flagged(recs) -> list[str]:
    flagged = [r for r in recs if r.get("flags")]
    if not flagged:
        return ["<h2>Flagged submissions</h2>", "<p>None.</p>"]
    return ["<h2>Flagged submissions</h2>",
            "<p class='sub'>Possibly tampered with, or otherwise worth a look:</p><ul>"
            + "".join(f"<li><b>{escape(r['student'])}</b>: "
                      + "; ".join(escape(f) for f in r["flags"]) + "</li>" for r in flagged)
            + "</ul>"]


def _not_tested(recs) -> list[str]:
    not_tested = [r for r in recs if not ran(r)]
    if not not_tested:
        return []
    return ["<h2>Not tested</h2><ul>" + "".join(
        f"<li><b>{escape(r['student'])}</b>: {escape(r.get('status', ''))}</li>"
        for r in not_tested) + "</ul>"]


def _weak_isolation(recs) -> list[str]:
    weak = [r["student"] for r in recs if r.get("isolation") == "weak"]
    if not weak:
        return []
    return [f"<div class='note flag' id='isolation'><b>Weak isolation</b>: "
            f"{_plural(len(weak), 'submission')} graded without namespaces (explicit opt-in): "
            "student code could see this machine's files and network. "
            + ", ".join(escape(s) for s in weak) + "</div>"]


def _events(recs) -> list[str]:
    groups = group_events(recs)
    if not groups:
        return []
    return ["<h2>Events</h2><p class='sub'>What happened while grading, grouped: events that "
            "differ only in a number are one line.</p><ul>" + "".join(
                f"<li><b>{_plural(len(students), 'submission')}</b>: {escape(example[:400])}"
                f"<details><summary>who</summary>{escape(', '.join(students))}</details></li>"
                for example, students in groups) + "</ul>"]


def _hand(status) -> tuple[str, float]:
    """A student's hand grading as the table shows it, and its sort key."""
    if status is None:
        return "", -1
    done, maximum, pending = status
    text = f"{points_text(done)} / {points_text(maximum)} by hand"
    return (text + (f" ({pending} to grade)" if pending else ""), pending)


def _students(recs, hand, links) -> list[str]:
    return ["<h2>Students</h2>" + sortable("students", [
                ("student", "Student"), ("score", "Score"), ("percent", "%"),
                ("seconds", "Time (s)"), ("failed", "Failed checks"), ("hand", "Graded by hand"),
                ("status", "Status"), ("isolation", "Isolation"), ("flags", "Flags")]),
            *(_student_row(r, hand.get(r["student"]), links.get(r["student"]))
              for r in sorted(recs, key=lambda r: r["student"])),
            "</tbody></table>"]


def _student_row(r, hand, link) -> str:
    total, maximum = r.get("total", 0), r.get("max_total", 0) or 0
    failed = [c for c, v in r.get("checks", {}).items() if not v.get("passed")]
    percent = 100 * total / maximum if maximum else 0
    student = r["student"]
    name = f"<a href='{escape(link)}'>{escape(student)}</a>" if link else escape(student)
    by_hand, pending = _hand(hand)
    return (f"<tr><td data-value='{escape(student)}'>{name}</td>"
            f"<td class='num' data-value='{points_text(total)}'>{points_text(total)} / "
            f"{points_text(maximum)}</td>"
            f"<td class='num' data-value='{percent:.2f}'>{percent:.0f}</td>"
            f"<td class='num'>{float(r.get('seconds', 0)):.1f}</td>"
            f"<td class='num' data-value='{len(failed)}' title='{escape(', '.join(failed))}'>"
            f"{len(failed)}</td><td data-value='{pending}'>{escape(by_hand)}</td>"
            f"<td>{escape(r.get('status', ''))}</td>"
            f"<td class='{'flag' if r.get('isolation') == 'weak' else ''}'>"
            f"{escape(r.get('isolation', ''))}</td>"
            f"<td class='flag'>{escape('; '.join(r.get('flags', [])))}</td></tr>")


# -- the verb ----------------------------------------------------------------------------------

def hand_grading(root: Path, assignment_id: str) -> dict:
    """student -> (points, max, cells still to grade) of the cells graded by hand, from the
    gradebook (formgrader writes there)."""
    from .export import grades
    return {g.student: (g.hand_graded, g.hand_graded_max, g.to_grade)
            for g in grades(root, [assignment_id]) if g.submitted}


def report(root: Path, assignment_ids=None, out: Path | None = None, log=print) -> list[Path]:
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
        similar = out / similarity.page_name(assignment.id)      # by `grader similarity`
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
    course.add_course_dir(parser)
    parser.add_argument("--out", type=Path, help="folder for the pages (default "
                        "<course-dir>/reports)")


def run(args) -> int:
    report(args.course_dir, args.assignments or None, args.out)
    return 0
