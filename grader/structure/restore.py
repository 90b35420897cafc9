"""The notebook that is graded: the release's cells, with the student's answers and own cells.

One call per graded release cell (`_graded`), then one rule per block (`RULES`), the shape of
nbgrader's OverwriteCells: each rule looks at one thing the student may have changed (the
copies, the cell type, the source, the points, the grading metadata) and says what it found;
`_graded_cell` builds the cell that is graded. Pure: nothing is executed, the release is never
modified.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

from ..nncheck import cells
from . import layout
from .findings import Finding, finding

CELL_TYPES = ("code", "markdown", "raw")
FLAGS = ("grade", "solution", "locked")
GRADING_KEYS = ("grade", "solution", "locked", "points", "task", "cell_type", "checksum")
WHAT = {"test": "test cell", "locked": "read-only cell", "solution": "answer cell"}
DELETED = {"test": "deleted_test_cell", "locked": "deleted_locked_cell",
           "solution": "deleted_solution_cell"}


def on_release(nb: dict, release_nb: dict) -> tuple[dict, list[Finding]]:
    """`nb` (the student's, read but not trusted) rebuilt on `release_nb`, and what was found."""
    release = [c for c in release_nb.get("cells", []) if isinstance(c, dict)]
    minor = release_nb.get("nbformat_minor", 5)
    minor = minor if isinstance(minor, int) else 5
    student, repaired = _student_cells(nb)
    findings = [finding("repaired_notebook", f"{repaired} malformed cell(s) or fields were "
                        "dropped or repaired.")] if repaired else []
    claims = _claims(student, release)
    findings += _edited_instructions(claims.text, release)
    restored, placed = {}, {}                    # release index -> graded cell, student pos
    for index, release_cell in enumerate(release):
        if not cells.grade_id(release_cell):
            continue
        graded = _graded(release_cell, claims.graded.get(index, []))
        findings += [found for rule in RULES for found in rule(graded)]
        restored[index] = _graded_cell(graded)
        if graded.primary is not None:
            placed[index] = graded.primary.pos
    findings += layout.reordered(placed, release)
    findings += _stray_metadata(claims)
    anchors = {pos: i for i, pos in placed.items()} | {c.pos: i for i, c in claims.text.items()}
    claimed = {c.pos for copies in claims.graded.values() for c in copies}
    own = layout.after_anchors(student, anchors, claimed)
    ordered, theirs = layout.assemble(release, restored, own, minor >= 5)
    built = {"cells": ordered, "metadata": copy.deepcopy(release_nb.get("metadata", {})),
             "nbformat": 4, "nbformat_minor": minor}
    return built, findings + layout.kept_valid(built, theirs)


# -- the student's cells, and which release cell each stands for ------------------------------

@dataclass(eq=False)
class _Cell:
    """A student cell, normalized."""
    pos: int
    cell_type: str
    source: str
    metadata: dict
    nbmeta: dict
    id: str | None
    attachments: dict | None


def _student_cells(nb: dict) -> tuple[list[_Cell], int]:
    """The cells that can be read, and how many cells or fields were dropped or repaired."""
    found, repaired = [], 0
    for raw in nb.get("cells", []):
        if not isinstance(raw, dict) or raw.get("cell_type") not in CELL_TYPES:
            repaired += 1
            continue
        bad = not _well_formed(raw.get("source"))
        metadata = raw.get("metadata")
        if not isinstance(metadata, dict):
            bad, metadata = bad or metadata is not None, {}
        cid = raw.get("id") if isinstance(raw.get("id"), str) else None
        attachments = raw.get("attachments") if isinstance(raw.get("attachments"), dict) else None
        found.append(_Cell(len(found), raw["cell_type"], cells.source(raw), metadata,
                           cells.meta(raw), cid, attachments))
        repaired += bad
    return found, repaired


def _well_formed(source) -> bool:
    return (source is None or isinstance(source, str)
            or (isinstance(source, list) and all(isinstance(x, str) for x in source)))


def normalized(text: str) -> str:
    """Source as compared: line endings and trailing blanks do not count as an edit."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return "\n".join(line.rstrip() for line in lines).strip("\n")


@dataclass
class _Claims:
    """Which release cell each student cell stands for."""
    graded: dict      # release index -> the student cells carrying its grade id
    text: dict        # release index -> the student's copy of that instructions cell
    foreign: list     # cells with grade ids the release does not have
    plain: list       # cells without a grade id: instructions, or the student's own


def _claims(student: list[_Cell], release: list[dict]) -> _Claims:
    by_gid, text_ids, text_sources = {}, {}, {}
    for i, release_cell in enumerate(release):
        gid = cells.grade_id(release_cell)
        if gid:
            by_gid.setdefault(gid, i)
            continue
        if isinstance(release_cell.get("id"), str):
            text_ids.setdefault(release_cell["id"], i)
        text = normalized(cells.source(release_cell))
        if text:
            text_sources.setdefault(text, i)
    claims = _Claims({}, {}, [], [])
    for cell in student:
        gid = cell.nbmeta.get("grade_id")
        if isinstance(gid, str) and gid in by_gid:
            claims.graded.setdefault(by_gid[gid], []).append(cell)
        elif gid not in (None, ""):
            claims.foreign.append(cell)
        else:
            claims.plain.append(cell)
    claims.text = _match_instructions(claims.plain, text_ids, text_sources)
    return claims


def _match_instructions(plain: list[_Cell], text_ids: dict, text_sources: dict) -> dict:
    """Release index -> the student's copy of that instructions cell: by cell id, then (ids
    lost, as in an nbformat 4.4 copy) by text."""
    matched = {}
    for cell in plain:
        i = text_ids.get(cell.id) if cell.id else None
        if i is not None and i not in matched:
            matched[i] = cell
    by_id = {cell.pos for cell in matched.values()}
    for cell in plain:
        i = None if cell.pos in by_id else text_sources.get(normalized(cell.source))
        if i is not None and i not in matched:
            matched[i] = cell
    return matched


def _edited_instructions(text: dict, release: list[dict]) -> list[Finding]:
    found = []
    for i, cell in sorted(text.items()):
        given = cells.source(release[i])
        if normalized(cell.source) != normalized(given):
            found.append(finding("edited_text_cell", "The instructions cell "
                                 f"\"{_first_line(given)}\" was edited; the release's text "
                                 "is used."))
    return found


# -- one graded release cell, and the rules -----------------------------------------------------

@dataclass(frozen=True)
class _Graded:
    """A graded release cell and the student cells that claim its grade id."""
    release: dict
    gid: str
    role: str           # "test", "locked" (setup, demos) or "solution" (an answer)
    genuine: list       # copies of the release cell
    forged: list        # cells claiming the grade id without being a copy
    primary: _Cell | None   # the one graded (None: deleted)
    worked: bool        # an answer: some copy differs from the release's stub

    @property
    def what(self) -> str:
        return WHAT[self.role]


def _role(release_cell: dict) -> str:
    meta = cells.meta(release_cell)
    if meta.get("solution"):
        return "solution"
    if release_cell.get("cell_type") == "code" and meta.get("grade"):
        return "test"
    return "locked"


def _graded(release_cell: dict, copies: list[_Cell]) -> _Graded:
    role, checksum = _role(release_cell), cells.meta(release_cell).get("checksum")
    # A copy of the release cell keeps its checksum (even when its type was changed by
    # accident); a cell that claims the grade id without it was made by hand.
    genuine = [c for c in copies if (c.nbmeta.get("checksum") == checksum if checksum
                                     else c.cell_type == release_cell.get("cell_type"))]
    forged = [c for c in copies if c not in genuine]
    worked = []
    if role == "solution":                      # the last copy worked on, else the first
        pool = genuine or forged
        stub = normalized(cells.source(release_cell))
        worked = [c for c in pool if normalized(c.source) != stub]
        primary = (worked[-1] if worked else pool[0]) if pool else None
    else:                                       # the release's own copy, never a forgery
        primary = genuine[0] if genuine else None
    return _Graded(release_cell, cells.grade_id(release_cell), role, genuine, forged, primary,
                   bool(worked))


def _forged_copies(g: _Graded) -> list[Finding]:
    """Cells that claim the grade id without being a copy: dropped (suspicious for a test);
    an answer whose own cell is gone is graded from one."""
    found = []
    for cell in g.forged:
        claim = (f"A cell carries nbgrader metadata claiming to be the {g.what} {g.gid} that "
                 "the release did not give it")
        if cell is g.primary:
            found.append(finding("unknown_metadata", f"{claim}; as the answer cell itself is "
                                 "gone, its text is graded as that answer.", g.gid))
        else:
            found.append(finding("unknown_metadata", f"{claim}; it was dropped.", g.gid,
                                 suspicious=g.role == "test"))
    return found


def _duplicates(g: _Graded) -> list[Finding]:
    extras = [c for c in g.genuine if c is not g.primary]
    if not extras or g.primary is None:
        return []
    kept = ("the release version is graded" if g.role != "solution"
            else "the last edited copy is graded" if g.worked else "the first copy is graded")
    return [finding("duplicated_cell", f"The {g.what} {g.gid} appears {len(extras) + 1} times; "
                    f"{kept} and the {len(extras)} other cop{'y' if len(extras) == 1 else 'ies'} "
                    "dropped.", g.gid, suspicious=g.role == "test")]


def _deleted(g: _Graded) -> list[Finding]:
    if g.primary is not None:
        return []
    done = ("the release's empty version is graded in its place" if g.role == "solution"
            else "it was restored from the release")
    return [finding(DELETED[g.role], f"The {g.what} {g.gid} was deleted; {done}.", g.gid)]


def _changed_type(g: _Graded) -> list[Finding]:
    expected = g.release.get("cell_type")
    if g.primary is None or g.primary.cell_type == expected:
        return []
    done = (f"its text is graded as the {expected} cell of the release" if g.role == "solution"
            else "the release version was restored")
    return [finding("changed_cell_type", f"The {g.what} {g.gid} was turned from {expected} "
                    f"into {g.primary.cell_type}; {done}.", g.gid)]


def _edited_source(g: _Graded) -> list[Finding]:
    """A locked cell (a test, the setup, a demo) keeps the release's source."""
    if (g.primary is None or g.role == "solution"
            or normalized(g.primary.source) == normalized(cells.source(g.release))):
        return []
    return [finding("edited_test_cell" if g.role == "test" else "edited_locked_cell",
                    f"The {g.what} {g.gid} was edited; the release version was restored.", g.gid)]


def _edited_points(g: _Graded) -> list[Finding]:
    if g.primary is None:
        return []
    theirs, given = _points(g.primary.nbmeta), _points(cells.meta(g.release))
    if theirs == given:
        return []
    return [finding("edited_points", f"The points of {g.gid} were changed from "
                    f"{_shown_points(given)} to {_shown_points(theirs)}; the release's points "
                    "were restored.", g.gid)]


def _edited_metadata(g: _Graded) -> list[Finding]:
    """Other grading metadata (grade, solution, locked, ...) of a copy; a forgery's metadata is
    not a copy's, and was said to be foreign already."""
    if g.primary is None or g.primary not in g.genuine:
        return []
    changed = _grading_differences(g.primary.nbmeta, cells.meta(g.release))
    if not changed:
        return []
    return [finding("edited_metadata", f"The grading metadata of {g.gid} ({', '.join(changed)}) "
                    "was changed; the release's was restored.", g.gid)]


#: In the order their findings are reported for one cell.
RULES = (_forged_copies, _duplicates, _deleted, _changed_type, _edited_source, _edited_points,
         _edited_metadata)


def _graded_cell(g: _Graded) -> dict:
    """The release's cell; for an answer, with the student's text (and a written answer's
    attachments)."""
    cell = layout.release_copy(g.release)
    if g.role == "solution" and g.primary is not None:
        cell["source"] = g.primary.source
        if (g.primary.cell_type == g.release.get("cell_type") == "markdown"
                and g.primary.attachments):
            attachments = layout.valid_attachments(g.primary.attachments)
            if attachments:
                cell["attachments"] = attachments
    return cell


def _points(meta: dict):
    value = meta.get("points")
    try:
        return float(value) if value is not None and not isinstance(value, bool) else value
    except (TypeError, ValueError):
        return value


def _shown_points(value) -> str:
    """Points as the student's metadata holds them, which may be no number at all."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return "none" if value is None else str(value)[:20]


def _grading_differences(student: dict, release: dict) -> list[str]:
    keys = []
    for key in GRADING_KEYS:
        if key == "points":
            continue
        a, b = student.get(key), release.get(key)
        if key in FLAGS:
            a, b = bool(a), bool(b)
        if a != b:
            keys.append(key)
    return keys


def _first_line(text: str) -> str:
    line = next((l.strip() for l in text.splitlines() if l.strip()), "")
    return line if len(line) <= 50 else line[:47] + "..."


def _stray_metadata(claims: _Claims) -> list[Finding]:
    """nbgrader metadata on the student's own cells: removed, the cells kept."""
    found = [finding("unknown_metadata", "A cell carries nbgrader metadata for "
                     f"\"{str(cell.nbmeta.get('grade_id'))[:40]}\", which is not part of this "
                     "assignment; the metadata was removed and the cell kept as the student's "
                     "own.") for cell in claims.foreign]
    matched = {cell.pos for cell in claims.text.values()}
    found += [finding("unknown_metadata", "A cell the student added carries nbgrader grading "
                      "flags without a grade id; the metadata was removed and the cell kept.")
              for cell in claims.plain
              if cell.pos not in matched and any(cell.nbmeta.get(k) for k in FLAGS)]
    return found
