"""The results record of a graded submission: one JSON file per submission,
<root>/autograded/<student>/<assignment>/grader_results.json, written by `grader autograde`
and read by feedback, reports, exports and the next autograde (to skip what is unchanged).
nbgrader's gradebook keeps the scores; the record keeps what the gradebook has no place for:
the messages, public and hidden, the events, flags and notes, and what grading cost.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from . import course

RESULTS_FILE = "grader_results.json"


@dataclass
class Outcome:
    """One graded submission; saved as <root>/autograded/<student>/<assignment>/RESULTS_FILE,
    which feedback, reports and exports read (the gradebook stays nbgrader's)."""
    student: str
    assignment: str
    status: str                                  # "graded" or why it was zero-filled
    scores: dict = field(default_factory=dict)   # check id -> (score, max) of autograded cells
    messages: dict = field(default_factory=dict)  # check id -> failure message
    manual: dict = field(default_factory=dict)   # grade id -> max points, graded by hand
    flags: list = field(default_factory=list)    # reasons to look closer (possible tampering)
    events: list = field(default_factory=list)   # what happened: timeouts, crashes, repairs
    seconds: float = 0.0
    hidden: dict = field(default_factory=dict)   # check id -> instructor-only message
    fingerprint: str = ""
    isolation: str = ""     # "root", "userns", or "weak" (no namespaces, by explicit opt-in)
    own_seconds: float = 0.0                     # its cost on its own clock (the budget's)
    notes: list = field(default_factory=list)    # what was found and is no problem (a rename)
    graded_now: bool = field(default=False, compare=False)   # not saved: this run graded it

    def to_record(self) -> dict:
        return {
            "assignment": self.assignment, "student": self.student, "status": self.status,
            "total": self.total, "max_total": self.max_total, "seconds": round(self.seconds, 3),
            "fingerprint": self.fingerprint,
            "checks": {check: {"points": score, "max_points": maximum,
                               "passed": score >= maximum,
                               "public_message": self.messages.get(check, ""),
                               "hidden_message": self.hidden.get(check, "")}
                       for check, (score, maximum) in self.scores.items()},
            "manual": self.manual, "flags": self.flags, "events": self.events,
            "notes": self.notes, "own_seconds": round(self.own_seconds, 3),
            **({"isolation": self.isolation} if self.isolation else {}),
        }

    @classmethod
    def from_record(cls, record: dict) -> "Outcome":
        checks = record.get("checks", {})
        return cls(record["student"], record["assignment"], record["status"],
                   {k: (v["points"], v["max_points"]) for k, v in checks.items()},
                   {k: _public(v) for k, v in checks.items() if _public(v)},
                   record.get("manual", {}), record.get("flags", []), record.get("events", []),
                   record.get("seconds", 0.0),
                   {k: v["hidden_message"] for k, v in checks.items() if v.get("hidden_message")},
                   record.get("fingerprint", ""), record.get("isolation") or "",
                   record.get("own_seconds", 0.0), record.get("notes", []))

    @property
    def total(self):
        return sum(score for score, _ in self.scores.values())

    @property
    def max_total(self):
        return sum(maximum for _, maximum in self.scores.values())


def _public(check: dict) -> str:
    """A check's student-safe message: `public_message`, or in a record that has none, its
    `message` (feedback.student_message prefers it likewise)."""
    return check.get("public_message") or check.get("message") or ""


def submissions(root: Path, assignment_id: str) -> list[str]:
    base = Path(root) / "submitted"
    return sorted(p.parent.name for p in base.glob(f"*/{assignment_id}") if p.is_dir())


def record_path(root: Path, assignment_id: str, student: str) -> Path:
    return Path(root) / "autograded" / student / assignment_id / RESULTS_FILE


def save(root: Path, outcome: Outcome):
    """Write the record atomically: a killed batch never leaves half a file behind."""
    path = record_path(root, outcome.assignment, outcome.student)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(outcome.to_record(), indent=1))
    partial.replace(path)


def load(root: Path, assignment_id: str, students=None) -> list[dict]:
    """The records of one assignment, by student (raw, with every field)."""
    found = []
    for path in sorted(Path(root).glob(f"autograded/*/{assignment_id}/{RESULTS_FILE}")):
        record = json.loads(path.read_text())
        if not students or record.get("student") in students:
            found.append(record)
    return found


def outcomes(root: Path, assignment_id: str) -> list[Outcome]:
    """Every saved outcome of one assignment, by student."""
    return [Outcome.from_record(record) for record in load(root, assignment_id)]


def assignments_with_records(root: Path, assignment_ids=None) -> list[course.Assignment]:
    if assignment_ids:
        return [course.get(a) for a in assignment_ids]
    return [a for a in course.available() if load(root, a.id)]
