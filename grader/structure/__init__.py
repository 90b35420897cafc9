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

Each deviation is a `Finding` (`findings`); its ``suspicious`` marks what cannot happen by
accident (an edited test cell, edited points or grading metadata, a duplicated test cell, a
forged grade id). Reading the file is `reading`, the rules that restore the release's cells are
`restore`, where the cells go is `layout`.

Pure functions: nothing is executed, no gradebook is touched, and no file content makes
`rebuild` raise.
"""
from __future__ import annotations

from pathlib import Path

from ..nncheck import cells
from .findings import KINDS, Finding, finding
from .reading import MAX_BYTES, candidates, decode, inside, parse, read, short
from .restore import normalized, on_release

__all__ = ["KINDS", "MAX_BYTES", "Finding", "decode", "finding", "parse", "rebuild"]


def rebuild(submission_dir: Path, notebook_name: str, release_nb: dict
            ) -> tuple[dict | None, list[Finding]]:
    """The notebook to grade for the submission in `submission_dir`, and what was found.

    Returns (None, findings) when there is nothing to grade (no notebook, or one that cannot be
    read); otherwise a valid nbformat 4 notebook with the release's structure.
    """
    try:
        nb, findings = _locate(Path(submission_dir), notebook_name, release_nb)
        if nb is None:
            return None, findings
        built, more = on_release(nb, release_nb)
        return built, findings + more
    except Exception as error:          # noqa: BLE001  (a bug here must not stop a batch)
        return None, [finding("not_a_notebook", f"{notebook_name} could not be rebuilt "
                              f"({short(error)}); nothing can be graded.")]


def _locate(submission_dir: Path, notebook_name: str, release_nb: dict):
    """The submitted notebook: the file of that name, else the notebook in the submission that
    holds this assignment's cells."""
    findings: list[Finding] = []
    path = submission_dir / notebook_name
    if path.is_file() and not inside(path, submission_dir):
        findings.append(finding("not_a_notebook", f"{notebook_name} is a link to a file outside "
                                "the submission; it was ignored.", suspicious=True))
    elif path.is_file():
        return read(path, notebook_name)
    nb, found = _find_renamed(submission_dir, notebook_name, release_nb)
    if nb is None:
        return None, found + findings     # the reason nothing is graded comes first
    return nb, findings + found


def _find_renamed(submission_dir: Path, notebook_name: str, release_nb: dict):
    """The notebook holding most of the assignment's cells, then most worked on, then the least
    deep, then by name."""
    wanted = {cells.grade_id(c) for c in release_nb.get("cells", [])} - {None}
    stubs = {cells.grade_id(c): normalized(cells.source(c))
             for c in release_nb.get("cells", []) if cells.meta(c).get("solution")}
    best = None
    for path in candidates(submission_dir):
        rel = path.relative_to(submission_dir).as_posix()
        nb, found = read(path, rel)
        if nb is None:
            continue
        held = [c for c in nb.get("cells", []) if isinstance(c, dict)]
        overlap = len({cells.grade_id(c) for c in held} & wanted)
        worked = sum(1 for c in held if cells.grade_id(c) in stubs
                     and normalized(cells.source(c)) != stubs[cells.grade_id(c)])
        key = (overlap, worked, -len(path.relative_to(submission_dir).parts), rel)
        if overlap and (best is None or key > best[0]):
            best = (key, nb, found, rel)
    if best is None:
        return None, [finding("missing_notebook", f"{notebook_name} is missing and no other "
                              "notebook in the submission holds this assignment's cells; "
                              "nothing can be graded.")]
    _, nb, found, rel = best
    return nb, [finding("renamed_notebook", f"{notebook_name} is missing; {rel}, which holds "
                        "this assignment's cells, was graded in its place.")] + found
