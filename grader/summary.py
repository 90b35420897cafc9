"""What `grader autograde` prints: a short summary of a batch (counts per outcome, the
submissions worth a look with their cause, where the details are), and the full matrix of
checks by students behind --table."""
from __future__ import annotations

from pathlib import Path

from .records import RESULTS_FILE, Outcome

WORTH_A_LOOK = 12


def _cause(outcome: Outcome) -> str:
    """The one line that says best why a submission is worth a look, or ''."""
    if outcome.status != "graded":
        return f"recorded as zero: {outcome.status.removeprefix('zero: ')}"
    if outcome.flags:
        return f"FLAG {outcome.flags[0]}"
    if outcome.events:
        return outcome.events[0]
    return ""


def summary(outcomes: list[Outcome], root, seconds: float, table_shown=False) -> str:
    """What a class-sized run prints: per assignment the counts per outcome, then the
    submissions worth a look (recorded as zero, flagged, something did not run), then where
    the details are. The full matrix is behind --table."""
    lines = []
    for assignment in dict.fromkeys(o.assignment for o in outcomes):
        rows = [o for o in outcomes if o.assignment == assignment]
        maximum = max(o.max_total for o in rows)
        now = sum(o.graded_now for o in rows)
        counts = {"full marks": sum(o.status == "graded" and o.total >= o.max_total
                                    for o in rows),
                  "partial": sum(o.status == "graded" and 0 < o.total < o.max_total
                                 for o in rows),
                  "no point": sum(o.status == "graded" and o.total == 0 for o in rows),
                  "recorded as zero": sum(o.status != "graded" for o in rows),
                  "flagged": sum(bool(o.flags) for o in rows)}
        mean = sum(o.total for o in rows) / len(rows)
        lines.append(f"{assignment}: {len(rows)} submissions ({now} graded now, "
                     f"{len(rows) - now} unchanged since the last run), mean {mean:.1f} / "
                     f"{maximum:g}")
        lines.append("  " + " | ".join(f"{k} {v}" for k, v in counts.items()))
        weak = [o.student for o in rows if o.isolation == "weak"]
        if weak:
            lines.append(f"  WEAK ISOLATION: {len(weak)} graded without namespaces (explicit "
                         f"opt-in): {', '.join(weak)}")
    look = [(o, _cause(o)) for o in outcomes if _cause(o)]
    if look:
        lines.append("\nWorth a look:")
        for o, cause in look[:WORTH_A_LOOK]:
            lines.append(f"  {o.assignment} {o.student} ({o.total:g}/{o.max_total:g}): "
                         f"{cause.splitlines()[0][:200]}")
        if len(look) > WORTH_A_LOOK:
            lines.append(f"  ... and {len(look) - WORTH_A_LOOK} more (see the class report)")
    root = Path(root)
    lines.append(f"\n{len(outcomes)} submissions in {seconds:.1f} s. Details: "
                 f"`grader report` -> {root / 'reports'}/<assignment>.html; `grader feedback` "
                 f"-> {root / 'feedback'}/<student>/; "
                 + ("" if table_shown else "`grader autograde --table` for every check's score; ")
                 + f"records in {root / 'autograded'}/<student>/<assignment>/{RESULTS_FILE}")
    return "\n".join(lines)


def table(outcomes: list[Outcome]) -> str:
    """One block per assignment: a row per check, a column per student, then the totals."""
    lines = []
    for assignment in dict.fromkeys(o.assignment for o in outcomes):
        rows = [o for o in outcomes if o.assignment == assignment]
        checks = list(dict.fromkeys(k for o in rows for k in o.scores))
        width = max([len(c) for c in checks] + [len("check"), len("TOTAL")])
        cols = [max(len(o.student), 7) for o in rows]
        lines.append(f"\n== {assignment} ==")
        lines.append("check".ljust(width) + "".join(f"  {o.student:>{w}}" for o, w in zip(rows, cols)))
        for check in checks:
            cells = []
            for o, w in zip(rows, cols):
                score, maximum = o.scores.get(check, (0.0, 0.0))
                cells.append(f"  {f'{score:g}/{maximum:g}':>{w}}")
            lines.append(check.ljust(width) + "".join(cells))
        lines.append("TOTAL".ljust(width) + "".join(
            f"  {f'{o.total:g}/{o.max_total:g}':>{w}}" for o, w in zip(rows, cols)))
        for o in rows:
            if o.status != "graded":
                lines.append(f"  {o.student}: {o.status}")
            for event in o.events[:3]:
                lines.append(f"  {o.student}: {event[:300]}")
            for flag in o.flags:
                lines.append(f"  {o.student}: FLAG {flag[:300]}")
            failed = list(o.messages.items())
            for check, message in failed[:6]:
                lines.append(f"  {o.student} / {check}: {message.splitlines()[0][:300]}")
            if len(failed) > 6:
                lines.append(f"  {o.student}: ... and {len(failed) - 6} more failed checks")
    return "\n".join(lines)
