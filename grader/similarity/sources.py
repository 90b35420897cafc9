"""What `grader similarity` compares: per submission the code the student wrote, and the outside
sources, read as untrusted files.

A submission is its modules (`layers.py`) and the code cells of its notebook as graded
(`grader.structure.rebuild`), less the cells left as released. An outside source is a file or
top-level folder of `--against`: its `.py` files and the code cells of its `.ipynb` files. A
file that is a link, too large, binary or not a notebook is left out with a note, and costs
only its own document.
"""
from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from .. import course, structure
from ..nncheck import cells

MAX_MODULE_BYTES = 2 * 2 ** 20   # a layers.py is ~15 kB
MAX_CELL_CHARS = 256 * 1024      # one cell's code; larger cells are left out
MAX_OUTSIDE_FILES = 200          # per --against source


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
    text, note = structure.decode(data)
    return text, (f"{name}: {note}" if note else None)


def code_cells(nb: dict, released: dict) -> tuple[list[Part], list[str]]:
    """The notebook's code cells that differ from the released cell of the same grade id."""
    parts, notes = [], []
    for number, cell in enumerate(nb.get("cells", []), 1):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        text = cells.source(cell)
        grade_id = cells.grade_id(cell)
        if grade_id in released and released[grade_id] == text:
            continue                                    # given code, as released
        label = f"cell {number}" + (f" ({grade_id[:64]})" if grade_id else "")
        if len(text) > MAX_CELL_CHARS:
            notes.append(f"{label} left out: {len(text)} characters")
            continue
        if text.strip():
            parts.append(Part(label, text))
    return parts, notes


def release_cells(release_nb: dict) -> dict:
    """grade id -> source of the release's code cells: the starter code."""
    return {cells.meta(c)["grade_id"]: cells.source(c) for c in release_nb["cells"]
            if c.get("cell_type") == "code" and cells.meta(c).get("grade_id")}


def submission(folder: Path, assignment: course.Assignment, release_nb: dict,
               student: str) -> tuple[Document | None, str]:
    """The student's code (modules, then the notebook's cells), or None and why."""
    doc = Document(readable(student))
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
        parts, notes = code_cells(nb, release_cells(release_nb))
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
        name = readable(entry.name)
        doc = Document(name, kind="outside")
        if entry.is_symlink():
            skipped.append((name, "a link (not followed)"))
            continue
        files = [entry] if entry.is_file() else _walk(entry) if entry.is_dir() else []
        for path in files[:MAX_OUTSIDE_FILES]:
            _read_outside(doc, path, path.relative_to(folder).as_posix())
        if doc.parts:
            docs.append(doc)
        else:
            skipped.append((name, "no Python code (.py or .ipynb) in it"))
    return docs, skipped


def _read_outside(doc: Document, path: Path, label: str):
    """Add one outside file's code to `doc` (a .py file, or an .ipynb's code cells)."""
    if path.suffix == ".py":
        text, note = read_text(path, MAX_MODULE_BYTES, label)
        if text is not None and text.strip():
            doc.parts.append(Part(label, text))
    elif path.suffix == ".ipynb":
        text, note = read_text(path, structure.MAX_BYTES, label)
        nb, findings = structure.parse(text.encode(), label) if text is not None else (None, [])
        note = note or (findings[0].message if nb is None and findings else None)
        if nb is not None:
            parts, notes = code_cells(nb, {})
            doc.parts += [Part(f"{label} {p.label}", p.text) for p in parts]
            doc.notes += notes
    else:
        return
    if note:
        doc.notes.append(note)


def _walk(folder: Path) -> list[Path]:
    found = []
    for here, dirs, files in os.walk(folder, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found += [Path(here) / f for f in sorted(files) if f.endswith((".py", ".ipynb"))
                  and not (Path(here) / f).is_symlink()]
        if len(found) >= MAX_OUTSIDE_FILES:
            break
    return found


def readable(name: str) -> str:
    """A file name as text: bytes that are not UTF-8 (os.fsdecode's surrogates) replaced."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
