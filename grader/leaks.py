"""Find anything secret in what students see: solution code, hidden tests, reference outputs.

What is secret is derived from the sources, not listed by hand: every line inside a solution
region or a hidden-test block (of source_layers modules and of source notebooks) that does not
also appear outside those regions. The shipped public checks get no exemption: a solution line
copied into them would be both released and flagged.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from . import course, notebooks, stubs
from .nncheck import cells

MARKERS = (stubs.BEGIN, stubs.END, stubs.HIDDEN_BEGIN, stubs.HIDDEN_END,
           "BEGIN SOLUTION", "BEGIN HIDDEN TESTS", "grader.hidden", "source_layers")
MIN_LENGTH = 12


@dataclass(frozen=True)
class Finding:
    path: str
    line: int
    reason: str

    def __str__(self):
        return f"{self.path}:{self.line}: {self.reason}"


def _split(source: str) -> tuple[set[str], set[str]]:
    """(secret lines, public lines) of one notebook cell or module."""
    secret, public, state = set(), set(), None
    for raw in source.splitlines():
        line = raw.strip()
        if line in (stubs.BEGIN, stubs.HIDDEN_BEGIN):
            state = line
        elif line in (stubs.END, stubs.HIDDEN_END):
            state = None
        elif state:
            secret.add(line)
        else:
            public.add(line)
    return secret, public


def _notebook_sources(path: Path):
    for cell in notebooks.load(path).get("cells", []):
        yield cells.source(cell)


@lru_cache(maxsize=1)
def secret_lines() -> frozenset[str]:
    secret, public = set(), set()
    for module in sorted(course.SOURCE_LAYERS.glob("*.py")):
        s, p = _split(module.read_text())
        secret |= s
        public |= p
    for notebook in sorted(course.ASSIGNMENTS_DIR.glob("*/*.ipynb")):
        for source in _notebook_sources(notebook):
            s, p = _split(source)
            secret |= s
            public |= p
    return frozenset(line for line in secret - public
                     if len(line) >= MIN_LENGTH and not line.startswith("#"))


def _scan_text(rel: str, text: str, secrets, findings, first_line=1):
    for number, raw in enumerate(text.splitlines(), first_line):
        line = raw.strip()
        for marker in MARKERS:
            if marker in line:
                findings.append(Finding(rel, number, f"contains {marker!r}"))
        if line in secrets:
            findings.append(Finding(rel, number, f"solution or hidden-test line: {line!r}"))


def scan(root: Path | str, allow_outputs: bool = False) -> list[Finding]:
    """Every leak under `root` (a release bundle, a feedback folder, ...)."""
    root = Path(root)
    secrets = secret_lines()
    findings: list[Finding] = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = str(path.relative_to(root))
        if path.suffix in (".pyc", ".png", ".zip", ".db"):
            continue
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            continue
        if path.suffix != ".ipynb":
            _scan_text(rel, text, secrets, findings)
            continue
        try:
            nb = json.loads(text)
        except json.JSONDecodeError:
            findings.append(Finding(rel, 0, "not valid notebook JSON"))
            continue
        for index, cell in enumerate(nb.get("cells", [])):
            _scan_text(f"{rel}[cell {index}]", cells.source(cell), secrets, findings)
            if cell.get("outputs") and not allow_outputs:
                findings.append(Finding(f"{rel}[cell {index}]", 0,
                                        "has outputs (reference outputs must not be released)"))
    return findings
