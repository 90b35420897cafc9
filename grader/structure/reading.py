"""Reading whatever was handed in as a notebook: damaged, mis-encoded, cut off, in the old
nbformat, or not a notebook at all. Recovered where that is cheap; nothing here raises."""
from __future__ import annotations

import json
import os
import re
import warnings
from pathlib import Path

from ..nncheck import cells
from .findings import Finding, finding

MAX_BYTES = 200 * 1024 * 1024        # larger than any notebook a course produces
MAX_CANDIDATES = 50                  # notebooks examined when the expected one is missing


class _Unreadable(Exception):
    """Nothing can be graded from this file: the finding's kind, and what is wrong with it."""

    def __init__(self, kind: str, what: str):
        super().__init__(what)
        self.kind, self.what = kind, what


def nothing_to_grade(kind: str, name: str, what: str) -> Finding:
    return finding(kind, f"{name} {what}; nothing can be graded.")


def short(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return text if len(text) < 120 else text[:117] + "..."


def decode(data: bytes) -> tuple[str, str | None]:
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


def parse(data: bytes, name: str) -> tuple[dict | None, list[Finding]]:
    """A notebook dict from a file's bytes, recovered where that is cheap; never raises."""
    try:
        return _parse(data, name)
    except _Unreadable as error:
        return None, [nothing_to_grade(error.kind, name, error.what)]
    except Exception as error:          # noqa: BLE001  (no file content may crash grading)
        return None, [nothing_to_grade("corrupt_json", name,
                                       f"could not be read as a notebook ({short(error)})")]


def _parse(data: bytes, name: str) -> tuple[dict, list[Finding]]:
    if not data.strip():
        raise _Unreadable("corrupt_json", "is empty")
    text, note = decode(data)
    findings = [finding("corrupt_json", f"{name} is not clean UTF-8: {note}.")] if note else []
    nb, recovered = _json(text, name)
    if not isinstance(nb, dict):
        raise _Unreadable("not_a_notebook", f"is JSON but not a notebook (a {type(nb).__name__})")
    nb, converted = _nbformat4(nb, name)
    if not isinstance(nb.get("cells"), list):
        raise _Unreadable("not_a_notebook", "is JSON but not a notebook (it has no list of cells)")
    if nb.get("nbformat") != 4:
        converted.append(finding("repaired_notebook", f"{name} declares nbformat "
                                 f"{str(nb.get('nbformat'))[:20]!s}; it was read as nbformat 4."))
    return nb, findings + recovered + converted


def _json(text: str, name: str):
    """The JSON value in `text`: all of it; else the object inside garbage around it; else, for
    a notebook cut off or damaged, the complete cells before the damage."""
    try:
        return json.loads(text), []
    except (ValueError, RecursionError) as error:
        damage = error
    start = text.find("{")
    if start >= 0:
        try:
            nb, end = json.JSONDecoder().raw_decode(text, start)
            ignored = len(text[:start].strip()) + len(text[end:].strip())
            return nb, [finding("corrupt_json", f"{name} has {ignored} characters of garbage "
                                "around the notebook's JSON; they were ignored.")]
        except (ValueError, RecursionError):
            salvaged = _salvage_cells(text)
            if salvaged:
                nb = {"cells": salvaged, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
                return nb, [finding("corrupt_json", f"{name} is cut off or damaged "
                                    f"({short(damage)}); the {len(salvaged)} complete cells "
                                    "before the damage were recovered.")]
    raise _Unreadable("corrupt_json", f"is not valid JSON ({short(damage)})")


def _salvage_cells(text: str) -> list | None:
    """The complete cells at the start of a truncated notebook, if any."""
    match = re.search(r'"cells"\s*:\s*\[', text)
    if not match:
        return None
    decoder, pos, found = json.JSONDecoder(), match.end(), []
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
        found.append(obj)
    # Worth grading only if some of the assignment's cells survived.
    return found if any(cells.grade_id(c) for c in found) else None


def _nbformat4(nb: dict, name: str) -> tuple[dict, list[Finding]]:
    """An nbformat 3 notebook converted to nbformat 4 (nbformat's own conversion)."""
    version = nb.get("nbformat")
    if not (version == 3 or (version is None and "worksheets" in nb)):
        return nb, []
    try:
        import nbformat
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            nb = json.loads(json.dumps(nbformat.convert(nbformat.from_dict(nb), 4)))
    except Exception as error:      # noqa: BLE001
        raise _Unreadable("not_a_notebook", f"is an nbformat 3 notebook that could not be "
                          f"converted ({short(error)})") from None
    return nb, [finding("repaired_notebook", f"{name} was saved in the old nbformat 3 and was "
                        "converted to nbformat 4.")]


def read(path: Path, name: str) -> tuple[dict | None, list[Finding]]:
    """The notebook at `path` (shown as `name`), as `parse` reads it; never raises."""
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            return None, [nothing_to_grade("corrupt_json", name, f"is {size} bytes, far too "
                                           "large for a notebook")]
        data = path.read_bytes()
    except OSError as error:
        return None, [nothing_to_grade("corrupt_json", name,
                                       f"could not be read ({short(error)})")]
    return parse(data, name)


def inside(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root.resolve())
        return True
    except (ValueError, OSError, RuntimeError):
        return False


def candidates(submission_dir: Path, depth: int = 3) -> list[Path]:
    """Other notebooks of the submission, at most `depth` folders down, not in hidden folders
    (.ipynb_checkpoints) and not behind links that leave the submission."""
    found = []
    for folder, dirs, files in os.walk(submission_dir, followlinks=False):
        level = len(Path(folder).relative_to(submission_dir).parts)
        dirs[:] = sorted(d for d in dirs if not d.startswith((".", "__")) and level < depth)
        for name in sorted(files):
            path = Path(folder) / name
            if (name.endswith(".ipynb") and not name.startswith(".") and path.is_file()
                    and inside(path, submission_dir)):
                found.append(path)
                if len(found) >= MAX_CANDIDATES:
                    return found
    return found
