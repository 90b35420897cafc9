"""Where the cells go in the notebook that is graded: the release's order, the student's own
cells after the cell they followed, fresh ids, and a notebook nbformat accepts."""
from __future__ import annotations

import bisect
import copy
import re
import warnings

from ..nncheck import cells
from .findings import Finding, finding

ID_PATTERN = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


def reordered(placed: dict, release: list[dict]) -> list[Finding]:
    """The graded cells the student moved (the fewest that explain the order found)."""
    order = sorted(placed, key=placed.get)
    keep = _longest_increasing(order)
    found = []
    for k, i in enumerate(order):
        if k not in keep:
            gid = cells.grade_id(release[i])
            found.append(finding("reordered_cells", f"The cell {gid} was moved; it is graded at "
                                 "its place in the release.", gid))
    return found


def after_anchors(student: list, anchors: dict, claimed: set) -> dict:
    """Release index -> the student's own cells that follow it (-1: before the first): each
    goes after the nearest preceding cell that stands for a release cell (`anchors`: student
    position -> release index); the cells `claimed` as copies of graded cells are not theirs."""
    own, anchor = {}, -1
    for cell in student:
        if cell.pos in anchors:
            anchor = anchors[cell.pos]
        elif cell.pos not in claimed:
            own.setdefault(anchor, []).append(cell)
    return own


def assemble(release: list[dict], restored: dict, own: dict, with_ids: bool):
    """The cells in the release's order (`restored` in place of the graded ones), each followed
    by the student's own cells `own` puts after it; and those own cells, made fresh."""
    used_ids = {c.get("id") for c in release if isinstance(c.get("id"), str)}
    ordered, theirs = [], []
    for i in range(-1, len(release)):
        if i >= 0:
            ordered.append(restored[i] if i in restored else release_copy(release[i]))
        for cell in own.get(i, []):
            theirs.append(_own_cell(cell, used_ids, with_ids))
            ordered.append(theirs[-1])
    return ordered, theirs


def release_copy(release_cell: dict) -> dict:
    cell = copy.deepcopy(release_cell)
    cell["source"] = cells.source(release_cell)
    if cell.get("cell_type") == "code":
        cell["outputs"], cell["execution_count"] = [], None
    return cell


def _own_cell(cell, used_ids: set, with_ids: bool) -> dict:
    """A cell the student added, as a fresh cell: no nbgrader metadata, no outputs, an id of
    its own."""
    metadata = {k: copy.deepcopy(v) for k, v in cell.metadata.items() if k != "nbgrader"}
    result = {"cell_type": cell.cell_type, "metadata": metadata, "source": cell.source}
    if cell.cell_type == "code":
        result.update(outputs=[], execution_count=None)
    elif cell.attachments:
        attachments = valid_attachments(cell.attachments)
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


def kept_valid(built: dict, theirs: list[dict]) -> list[Finding]:
    """Only the student's own cells can make the rebuilt notebook invalid: first their
    metadata goes, then, if that is not enough, the cells."""
    if _valid(built):
        return []
    for cell in theirs:
        cell["metadata"] = {}
        cell.pop("attachments", None)
    if _valid(built):
        return []
    dropped = {id(c) for c in theirs}
    built["cells"] = [c for c in built["cells"] if id(c) not in dropped]
    return [finding("repaired_notebook", f"The {len(theirs)} cell(s) the student added could not "
                    "be kept in a valid notebook and were dropped.")]


def _longest_increasing(seq: list[int]) -> set[int]:
    """Positions (into seq) of one longest strictly increasing subsequence."""
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


def valid_attachments(value) -> dict | None:
    if not isinstance(value, dict):
        return None

    def data(v):
        return isinstance(v, str) or (isinstance(v, list) and all(isinstance(x, str) for x in v))

    for bundle in value.values():
        if not isinstance(bundle, dict) or not all(isinstance(k, str) and data(v)
                                                   for k, v in bundle.items()):
            return None
    return copy.deepcopy(value)


def _valid(nb: dict) -> bool:
    try:
        import nbformat
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            nbformat.validate(nbformat.from_dict(copy.deepcopy(nb)))
        return True
    except Exception:                   # noqa: BLE001
        return False
