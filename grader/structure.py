"""What a student handed in, turned into the notebook that is graded -- and what was found.

A submitted notebook is hostile until proven otherwise: test cells may be deleted, edited,
reordered or duplicated, points rewritten, the file renamed, removed or not JSON at all. nbgrader
copes with some of this silently (a deleted test cell becomes "needs manual grading"), so the
grader rebuilds the notebook *from the release* before nbgrader sees it:

* every cell the release locks (the setup cell, every test cell, the read-only demos) is the
  release's, source and metadata, wherever the student put it and whatever they did to it;
* every solution cell (code or written answer) is the release's cell with the student's source,
  matched by ``grade_id`` (outputs dropped); a deleted one is graded as the release stub;
* cells the student added stay, after the nearest preceding cell they followed in the student's
  notebook; instructions (cells without nbgrader metadata) are the release's;
* the notebook's metadata (kernelspec) is the release's.

Each deviation is a `Finding`; ``suspicious`` marks what cannot happen by accident (an edited
test cell, edited points or grading metadata, a duplicated test cell, a forged grade id).

Pure functions: nothing is executed, no gradebook is touched, and no file content makes
`rebuild` raise.
"""
from __future__ import annotations

import copy
import json
import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

MAX_BYTES = 200 * 1024 * 1024        # larger than any notebook a course produces
MAX_CANDIDATES = 50                  # notebooks examined when the expected one is missing
CELL_TYPES = ("code", "markdown", "raw")
FLAGS = ("grade", "solution", "locked")
GRADING_KEYS = ("grade", "solution", "locked", "points", "task", "cell_type", "checksum")
ID_PATTERN = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")

#: Every kind of finding and whether it is suspicious (None: depends on the cell).
KINDS = {
    "missing_notebook": False,      # no notebook with the assignment's cells: nothing to grade
    "renamed_notebook": False,      # graded the notebook found under another name
    "corrupt_json": False,          # not valid JSON: recovered, or (fatal) nothing to grade
    "not_a_notebook": False,        # valid JSON, but not a notebook: nothing to grade
    "repaired_notebook": False,     # old nbformat, malformed cells: repaired
    "deleted_test_cell": False,     # restored from the release
    "deleted_locked_cell": False,   # a read-only non-test cell (setup, demo): restored
    "deleted_solution_cell": False,  # the release stub is graded in its place
    "edited_test_cell": True,       # source restored from the release
    "edited_locked_cell": False,    # read-only non-test cell: source restored
    "edited_points": True,          # points restored
    "edited_metadata": True,        # other grading metadata (grade/solution/locked/...) restored
    "duplicated_cell": None,        # extra copies dropped; suspicious for a test cell
    "unknown_metadata": None,       # nbgrader metadata the release did not give; suspicious if
                                    # it claims a test cell (then treated as a duplicate)
    "reordered_cells": False,       # graded at the release's place
    "changed_cell_type": False,     # code <-> markdown: an answer's source is kept, a locked
                                    # cell is restored
    "edited_text_cell": False,      # an instructions cell was edited: the release text is used
    "linked_submission": True,      # the submission folder is a link (to a classmate's work)
}


@dataclass(frozen=True)
class Finding:
    kind: str          # one of KINDS
    cell: str | None   # grade_id concerned, if any
    message: str       # one sentence for instructor and student: what was found, what was done
    suspicious: bool   # True only where it can only be deliberate tampering

    def __str__(self):
        flag = "[suspicious] " if self.suspicious else ""
        where = f" ({self.cell})" if self.cell else ""
        return f"{flag}{self.kind}{where}: {self.message}"


def summary(findings) -> str:
    """One line per finding (empty when there is nothing to report)."""
    return "\n".join(str(f) for f in findings)


def suspicious(findings) -> bool:
    return any(f.suspicious for f in findings)


# ---------------------------------------------------------------------------------------------
# Reading whatever was handed in

def _text(value) -> tuple[str, bool]:
    """A cell's source as one string, and whether it had to be repaired."""
    if isinstance(value, str):
        return value, False
    if isinstance(value, list):
        ok = all(isinstance(x, str) for x in value)
        return "".join(x for x in value if isinstance(x, str)), not ok
    return "", value is not None


def _normalized(text: str) -> str:
    """Source as compared: line endings and trailing blanks do not count as an edit."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return "\n".join(line.rstrip() for line in lines).strip("\n")


def _short(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return text if len(text) < 120 else text[:117] + "..."


def _decode(data: bytes) -> tuple[str, str | None]:
    """Text of the file, and a note if it was not clean UTF-8."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):       # PowerShell's `>` writes UTF-16
        try:
            return data.decode("utf-16"), "it was saved as UTF-16 and was decoded"
        except UnicodeDecodeError:
            pass
    try:
        return data.decode("utf-8-sig"), None
    except UnicodeDecodeError:
        return (data.decode("utf-8", errors="replace"),
                "bytes that are not UTF-8 were replaced by \N{REPLACEMENT CHARACTER}")


def _salvage_cells(text: str) -> list | None:
    """The complete cells at the start of a truncated notebook, if any."""
    match = re.search(r'"cells"\s*:\s*\[', text)
    if not match:
        return None
    decoder, pos, cells = json.JSONDecoder(), match.end(), []
    whitespace = re.compile(r"[\s,]*")
    while True:
        pos = whitespace.match(text, pos).end()
        if pos >= len(text) or text[pos] == "]":
            break
        try:
            obj, pos = decoder.raw_decode(text, pos)
        except (ValueError, RecursionError):
            break
        if not isinstance(obj, dict):
            break
        cells.append(obj)
    # Worth grading only if some of the assignment's cells survived.
    return cells if any(_grade_id(c) for c in cells) else None


def parse(data: bytes, name: str) -> tuple[dict | None, list[Finding]]:
    """A notebook dict from a file's bytes, recovered where that is cheap; never raises."""
    try:
        return _parse(data, name)
    except Exception as error:          # noqa: BLE001  (no file content may crash grading)
        return None, [Finding("corrupt_json", None, f"{name} could not be read as a notebook "
                              f"({_short(error)}); nothing can be graded.", False)]


def _parse(data: bytes, name: str) -> tuple[dict | None, list[Finding]]:
    findings = []

    def fatal(kind, what):
        return None, [Finding(kind, None, f"{name} {what}; nothing can be graded.", False)]

    if not data.strip():
        return fatal("corrupt_json", "is empty")
    text, note = _decode(data)
    if note:
        findings.append(Finding("corrupt_json", None, f"{name} is not clean UTF-8: {note}.", False))
    try:
        nb = json.loads(text)
    except (ValueError, RecursionError) as error:
        nb = None
        start = text.find("{")
        if start >= 0:
            try:
                nb, end = json.JSONDecoder().raw_decode(text, start)
                ignored = len(text[:start].strip()) + len(text[end:].strip())
                findings.append(Finding(
                    "corrupt_json", None, f"{name} has {ignored} characters of garbage around "
                    "the notebook's JSON; they were ignored.", False))
            except (ValueError, RecursionError):
                cells = _salvage_cells(text)
                if cells:
                    nb = {"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
                    findings.append(Finding(
                        "corrupt_json", None, f"{name} is cut off or damaged ({_short(error)}); "
                        f"the {len(cells)} complete cells before the damage were recovered.",
                        False))
        if nb is None:
            return fatal("corrupt_json", f"is not valid JSON ({_short(error)})")
    if not isinstance(nb, dict):
        return fatal("not_a_notebook", f"is JSON but not a notebook (a {type(nb).__name__})")
    version = nb.get("nbformat")
    if version == 3 or (version is None and "worksheets" in nb):
        try:
            import nbformat
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                nb = json.loads(json.dumps(nbformat.convert(nbformat.from_dict(nb), 4)))
        except Exception as error:      # noqa: BLE001
            return fatal("not_a_notebook", f"is an nbformat 3 notebook that could not be "
                         f"converted ({_short(error)})")
        findings.append(Finding("repaired_notebook", None, f"{name} was saved in the old "
                                "nbformat 3 and was converted to nbformat 4.", False))
    if not isinstance(nb.get("cells"), list):
        return fatal("not_a_notebook", "is JSON but not a notebook (it has no list of cells)")
    if nb.get("nbformat") != 4:
        findings.append(Finding("repaired_notebook", None, f"{name} declares nbformat "
                                f"{str(nb.get('nbformat'))[:20]!s}; it was read as nbformat 4.",
                                False))
    return nb, findings


def _read(path: Path, name: str) -> tuple[dict | None, list[Finding]]:
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            return None, [Finding("corrupt_json", None, f"{name} is {size} bytes, far too large "
                                  "for a notebook; nothing can be graded.", False)]
        data = path.read_bytes()
    except OSError as error:
        return None, [Finding("corrupt_json", None, f"{name} could not be read "
                              f"({_short(error)}); nothing can be graded.", False)]
    return parse(data, name)


def _inside(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root.resolve())
        return True
    except (ValueError, OSError, RuntimeError):
        return False


def _candidates(submission_dir: Path, depth: int = 3) -> list[Path]:
    """Other notebooks of the submission, at most `depth` folders down, not in hidden folders
    (.ipynb_checkpoints) and not behind links that leave the submission."""
    found = []
    for folder, dirs, files in os.walk(submission_dir, followlinks=False):
        level = len(Path(folder).relative_to(submission_dir).parts)
        dirs[:] = sorted(d for d in dirs if not d.startswith((".", "__")) and level < depth)
        for name in sorted(files):
            path = Path(folder) / name
            if (name.endswith(".ipynb") and not name.startswith(".") and path.is_file()
                    and _inside(path, submission_dir)):
                found.append(path)
                if len(found) >= MAX_CANDIDATES:
                    return found
    return found


# ---------------------------------------------------------------------------------------------
# Cells

def _nbmeta(cell: dict) -> dict:
    metadata = cell.get("metadata")
    meta = metadata.get("nbgrader") if isinstance(metadata, dict) else None
    return meta if isinstance(meta, dict) else {}


def _grade_id(cell: dict):
    gid = _nbmeta(cell).get("grade_id")
    return gid if isinstance(gid, str) and gid else None


@dataclass
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
    cells, repaired = [], 0
    for raw in nb.get("cells", []):
        if not isinstance(raw, dict) or raw.get("cell_type") not in CELL_TYPES:
            repaired += 1
            continue
        source, bad = _text(raw.get("source"))
        metadata = raw.get("metadata")
        if not isinstance(metadata, dict):
            bad, metadata = bad or metadata is not None, {}
        cid = raw.get("id") if isinstance(raw.get("id"), str) else None
        attachments = raw.get("attachments") if isinstance(raw.get("attachments"), dict) else None
        cells.append(_Cell(len(cells), raw["cell_type"], source, metadata, _nbmeta(raw), cid,
                           attachments))
        repaired += bad
    return cells, repaired


def _points(meta: dict):
    value = meta.get("points")
    try:
        return float(value) if value is not None and not isinstance(value, bool) else value
    except (TypeError, ValueError):
        return value


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


def _fmt_points(value) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return "none" if value is None else str(value)[:20]


def _first_line(text: str) -> str:
    line = next((l.strip() for l in text.splitlines() if l.strip()), "")
    return line if len(line) <= 50 else line[:47] + "..."


def _longest_increasing(seq: list[int]) -> set[int]:
    """Positions (into seq) of one longest strictly increasing subsequence."""
    import bisect
    tails, tail_pos, prev = [], [], [-1] * len(seq)
    for i, value in enumerate(seq):
        k = bisect.bisect_left(tails, value)
        if k == len(tails):
            tails.append(value)
            tail_pos.append(i)
        else:
            tails[k], tail_pos[k] = value, i
        prev[i] = tail_pos[k - 1] if k else -1
    keep, i = set(), tail_pos[-1] if tail_pos else -1
    while i >= 0:
        keep.add(i)
        i = prev[i]
    return keep


def _valid_attachments(value) -> dict | None:
    if not isinstance(value, dict):
        return None
    def data(v):
        return isinstance(v, str) or (isinstance(v, list) and all(isinstance(x, str) for x in v))

    for bundle in value.values():
        if not isinstance(bundle, dict) or not all(isinstance(k, str) and data(v)
                                                   for k, v in bundle.items()):
            return None
    return copy.deepcopy(value)


# ---------------------------------------------------------------------------------------------
# Rebuilding

def rebuild(submission_dir: Path, notebook_name: str, release_nb: dict
            ) -> tuple[dict | None, list[Finding]]:
    """The notebook to grade for the submission in `submission_dir`, and what was found.

    Returns (None, findings) when there is nothing to grade (no notebook, or one that cannot be
    read); otherwise a valid nbformat 4 notebook with the release's structure.
    """
    try:
        return _locate_and_rebuild(Path(submission_dir), notebook_name, release_nb)
    except Exception as error:          # noqa: BLE001  (a bug here must not stop a batch)
        return None, [Finding("not_a_notebook", None, f"{notebook_name} could not be rebuilt "
                              f"({_short(error)}); nothing can be graded.", False)]


def _locate_and_rebuild(submission_dir: Path, notebook_name: str, release_nb: dict):
    release_ids = [g for g in (_grade_id(c) for c in release_nb.get("cells", [])) if g]
    findings: list[Finding] = []
    path = submission_dir / notebook_name
    nb = None
    if path.is_file() and not _inside(path, submission_dir):
        findings.append(Finding("not_a_notebook", None, f"{notebook_name} is a link to a file "
                                "outside the submission; it was ignored.", True))
    elif path.is_file():
        nb, read = _read(path, notebook_name)
        if nb is None:
            return None, findings + read
        findings += read
    if nb is None:
        nb, found = _find_renamed(submission_dir, notebook_name, release_nb, release_ids)
        if nb is None:
            return None, found + findings     # the reason nothing is graded comes first
        findings += found
    built, more = _rebuild(nb, release_nb)
    return built, findings + more


def _find_renamed(submission_dir, notebook_name, release_nb, release_ids):
    wanted = set(release_ids)
    stubs = {_grade_id(c): _normalized(_text(c.get("source"))[0])
             for c in release_nb.get("cells", []) if _nbmeta(c).get("solution")}
    best = None
    for path in _candidates(submission_dir):
        rel = path.relative_to(submission_dir).as_posix()
        nb, read = _read(path, rel)
        if nb is None:
            continue
        cells = [c for c in nb.get("cells", []) if isinstance(c, dict)]
        overlap = len({_grade_id(c) for c in cells} & wanted)
        worked = sum(1 for c in cells if _grade_id(c) in stubs
                     and _normalized(_text(c.get("source"))[0]) != stubs[_grade_id(c)])
        key = (overlap, worked, -len(path.relative_to(submission_dir).parts), rel)
        if overlap and (best is None or key > best[0]):
            best = (key, nb, read, rel)
    if best is None:
        return None, [Finding("missing_notebook", None, f"{notebook_name} is missing and no other "
                              "notebook in the submission holds this assignment's cells; nothing "
                              "can be graded.", False)]
    _, nb, read, rel = best
    return nb, [Finding("renamed_notebook", None, f"{notebook_name} is missing; {rel}, which holds "
                        "this assignment's cells, was graded in its place.", False)] + read


def _role(release_cell: dict) -> str:
    meta = _nbmeta(release_cell)
    if meta.get("solution"):
        return "solution"
    if release_cell.get("cell_type") == "code" and meta.get("grade"):
        return "test"
    return "locked"


def _rebuild(nb: dict, release_nb: dict) -> tuple[dict, list[Finding]]:
    release = [c for c in release_nb.get("cells", []) if isinstance(c, dict)]
    minor = release_nb.get("nbformat_minor", 5)
    minor = minor if isinstance(minor, int) else 5
    with_ids = minor >= 5
    findings: list[Finding] = []
    cells, repaired = _student_cells(nb)
    if repaired:
        findings.append(Finding("repaired_notebook", None, f"{repaired} malformed cell(s) or "
                                "fields were dropped or repaired.", False))

    by_gid = {}                     # grade_id -> release index
    text_ids, text_sources = {}, {}  # release text cells: id / source -> release index
    for i, rc in enumerate(release):
        gid = _grade_id(rc)
        if gid:
            by_gid.setdefault(gid, i)
        else:
            if isinstance(rc.get("id"), str):
                text_ids.setdefault(rc["id"], i)
            text = _normalized(_text(rc.get("source"))[0])
            if text:
                text_sources.setdefault(text, i)

    # --- which release cell does each student cell stand for?
    claims: dict[int, list[_Cell]] = {}          # release index -> student cells claiming it
    text_match: dict[int, _Cell] = {}            # release index -> student text cell
    matched_pos: dict[int, int] = {}             # student pos -> release index (text cells)
    unknown, plain = [], []                      # cells with foreign grade ids; cells w/o any
    for cell in cells:
        gid = cell.nbmeta.get("grade_id")
        if isinstance(gid, str) and gid in by_gid:
            claims.setdefault(by_gid[gid], []).append(cell)
        elif gid not in (None, ""):
            unknown.append(cell)
        else:
            plain.append(cell)
    for cell in plain:                           # instructions, by cell id first ...
        i = text_ids.get(cell.id) if cell.id else None
        if i is not None and i not in text_match:
            text_match[i], matched_pos[cell.pos] = cell, i
    for cell in plain:                           # ... then by their text (ids lost)
        if cell.pos in matched_pos:
            continue
        i = text_sources.get(_normalized(cell.source))
        if i is not None and i not in text_match:
            text_match[i], matched_pos[cell.pos] = cell, i
    for i, cell in sorted(text_match.items()):
        if _normalized(cell.source) != _normalized(_text(release[i].get("source"))[0]):
            findings.append(Finding(
                "edited_text_cell", None, "The instructions cell \""
                f"{_first_line(_text(release[i].get('source'))[0])}\" was edited; the release's "
                "text is used.", False))

    # --- graded cells: primary copy, deletions, edits, duplicates, forgeries
    out_cells: dict[int, dict] = {}
    primary_pos: dict[int, int] = {}             # release index -> student pos of the primary
    for i, rc in enumerate(release):
        gid = _grade_id(rc)
        if not gid:
            continue
        role, rmeta = _role(rc), _nbmeta(rc)
        what = {"test": "test cell", "locked": "read-only cell", "solution": "answer cell"}[role]
        copies = claims.get(i, [])
        checksum = rmeta.get("checksum")
        # A copy of the release cell keeps its checksum (even when its type was changed by
        # accident); a cell that claims the grade id without it was made by hand.
        genuine = [c for c in copies if (c.nbmeta.get("checksum") == checksum if checksum
                                         else c.cell_type == rc.get("cell_type"))]
        forged = [c for c in copies if c not in genuine]
        if role == "solution":
            pool = genuine or forged
            stub = _normalized(_text(rc.get("source"))[0])
            worked = [c for c in pool if _normalized(c.source) != stub]
            primary = (worked[-1] if worked else pool[0]) if pool else None
        else:
            primary = genuine[0] if genuine else None
        for extra in forged:
            if extra is primary:
                findings.append(Finding(
                    "unknown_metadata", gid, f"A cell carries nbgrader metadata claiming to be "
                    f"the {what} {gid} that the release did not give it; as the answer cell "
                    "itself is gone, its text is graded as that answer.", False))
                continue
            findings.append(Finding(
                "unknown_metadata", gid, f"A cell carries nbgrader metadata claiming to be the "
                f"{what} {gid} that the release did not give it; it was dropped.",
                role == "test"))
        extras = [c for c in genuine if c is not primary]
        if extras and primary is not None:
            kept = ("the release version is graded" if role != "solution"
                    else "the last edited copy is graded" if worked
                    else "the first copy is graded")
            findings.append(Finding(
                "duplicated_cell", gid, f"The {what} {gid} appears {len(extras) + 1} times; "
                f"{kept} and the {len(extras)} other cop{'y' if len(extras) == 1 else 'ies'} "
                "dropped.", role == "test"))

        cell = copy.deepcopy(rc)
        cell["source"] = _text(rc.get("source"))[0]
        if primary is None:
            kind = {"test": "deleted_test_cell", "locked": "deleted_locked_cell",
                    "solution": "deleted_solution_cell"}[role]
            done = ("the release's empty version is graded in its place" if role == "solution"
                    else "it was restored from the release")
            findings.append(Finding(kind, gid, f"The {what} {gid} was deleted; {done}.", False))
        else:
            primary_pos[i] = primary.pos
            if primary.cell_type != rc.get("cell_type"):
                done = (f"its text is graded as the {rc.get('cell_type')} cell of the release"
                        if role == "solution" else "the release version was restored")
                findings.append(Finding(
                    "changed_cell_type", gid, f"The {what} {gid} was turned from "
                    f"{rc.get('cell_type')} into {primary.cell_type}; {done}.", False))
            if role == "solution":
                cell["source"] = primary.source
                if primary.cell_type == rc.get("cell_type") == "markdown" and primary.attachments:
                    attachments = _valid_attachments(primary.attachments)
                    if attachments:
                        cell["attachments"] = attachments
            elif _normalized(primary.source) != _normalized(cell["source"]):
                findings.append(Finding(
                    "edited_test_cell" if role == "test" else "edited_locked_cell", gid,
                    f"The {what} {gid} was edited; the release version was restored.",
                    role == "test"))
            if _points(primary.nbmeta) != _points(rmeta):
                findings.append(Finding(
                    "edited_points", gid, f"The points of {gid} were changed from "
                    f"{_fmt_points(_points(rmeta))} to {_fmt_points(_points(primary.nbmeta))}; "
                    "the release's points were restored.", True))
            changed = _grading_differences(primary.nbmeta, rmeta)
            if changed and primary in genuine:
                findings.append(Finding(
                    "edited_metadata", gid, f"The grading metadata of {gid} "
                    f"({', '.join(changed)}) was changed; the release's was restored.", True))
        if cell.get("cell_type") == "code":
            cell["outputs"], cell["execution_count"] = [], None
        out_cells[i] = cell

    # --- order: the release's; say which graded cells the student had moved
    order = sorted(primary_pos, key=primary_pos.get)
    keep = _longest_increasing(order)
    for k, i in enumerate(order):
        if k not in keep:
            gid = _grade_id(release[i])
            findings.append(Finding(
                "reordered_cells", gid, f"The cell {gid} was moved; it is graded at its place in "
                "the release.", False))

    # --- cells the student added: after the nearest preceding cell that is kept in place
    anchors = {pos: i for i, pos in primary_pos.items()}
    anchors.update(matched_pos)
    added: dict[int, list[_Cell]] = {}
    anchor = -1
    claimed = {c.pos for copies in claims.values() for c in copies}
    for cell in cells:
        if cell.pos in anchors:
            anchor = anchors[cell.pos]
        elif cell.pos not in claimed:
            added.setdefault(anchor, []).append(cell)
    for cell in unknown:
        findings.append(Finding(
            "unknown_metadata", None, f"A cell carries nbgrader metadata for "
            f"\"{str(cell.nbmeta.get('grade_id'))[:40]}\", which is not part of this assignment; "
            "the metadata was removed and the cell kept as the student's own.", False))
    for cell in plain:
        if cell.pos not in matched_pos and any(cell.nbmeta.get(k) for k in FLAGS):
            findings.append(Finding(
                "unknown_metadata", None, "A cell the student added carries nbgrader grading "
                "flags without a grade id; the metadata was removed and the cell kept.", False))

    used_ids = {c.get("id") for c in release if isinstance(c.get("id"), str)}

    def new_cell(cell: _Cell) -> dict:
        metadata = {k: copy.deepcopy(v) for k, v in cell.metadata.items() if k != "nbgrader"}
        result = {"cell_type": cell.cell_type, "metadata": metadata, "source": cell.source}
        if cell.cell_type == "code":
            result.update(outputs=[], execution_count=None)
        elif cell.attachments:
            attachments = _valid_attachments(cell.attachments)
            if attachments:
                result["attachments"] = attachments
        if with_ids:
            cid = cell.id if cell.id and ID_PATTERN.match(cell.id) else None
            n = 0
            while cid is None or cid in used_ids:
                n += 1
                cid = f"added-{cell.pos}" + (f"-{n}" if n > 1 else "")
            used_ids.add(cid)
            result["id"] = cid
        return result

    added_ids = set()

    def own(cells_here):
        made = [new_cell(c) for c in cells_here]
        added_ids.update(id(c) for c in made)
        return made

    result_cells = own(added.get(-1, []))
    for i, rc in enumerate(release):
        if i in out_cells:
            result_cells.append(out_cells[i])
        else:
            text = copy.deepcopy(rc)
            text["source"] = _text(rc.get("source"))[0]
            if text.get("cell_type") == "code":
                text["outputs"], text["execution_count"] = [], None
            result_cells.append(text)
        result_cells.extend(own(added.get(i, [])))

    built = {"cells": result_cells, "metadata": copy.deepcopy(release_nb.get("metadata", {})),
             "nbformat": 4, "nbformat_minor": minor}
    if not _valid(built):
        # Only the student's own cells can be at fault: first their metadata, then the cells.
        theirs = [c for c in built["cells"] if id(c) in added_ids]
        for cell in theirs:
            cell["metadata"] = {}
            cell.pop("attachments", None)
        if not _valid(built):
            built["cells"] = [c for c in built["cells"] if id(c) not in added_ids]
            findings.append(Finding("repaired_notebook", None, f"The {len(theirs)} cell(s) the "
                                    "student added could not be kept in a valid notebook and "
                                    "were dropped.", False))
    return built, findings


def _valid(nb: dict) -> bool:
    try:
        import nbformat
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            nbformat.validate(nbformat.from_dict(copy.deepcopy(nb)))
        return True
    except Exception:                   # noqa: BLE001
        return False
