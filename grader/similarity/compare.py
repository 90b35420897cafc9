"""How `grader similarity` compares code: fingerprints, their rarity, the score of a pair and
the spans that match (the method and its reasons: the package's docstring)."""
from __future__ import annotations

import copy
import io
import math
from dataclasses import dataclass
from pathlib import Path

from .. import course
from .sources import MAX_MODULE_BYTES, Document, read_text, release_cells

K = 25                         # k-gram length in filtered characters (copydetect's noise threshold)


def fingerprint(text: str, label: str = "code.py"):
    from copydetect import CodeFingerprint
    return CodeFingerprint(label, K, 1, fp=io.StringIO(text), language="python")


def boilerplate(release_dir: Path, assignment: course.Assignment, release_nb: dict) -> set:
    """The fingerprints of the released starter code: modules and every code cell."""
    found = set()
    for name in assignment.modules:
        text, _ = read_text(release_dir / name, MAX_MODULE_BYTES, name)
        if text:
            found |= fingerprint(text).hashes
    for text in release_cells(release_nb).values():
        found |= fingerprint(text).hashes
    return found


def fingerprint_all(docs: list[Document], common: set):
    for doc in docs:
        doc.hashes = set()
        for part in doc.parts:
            part.fingerprint = fingerprint(part.text)
            doc.hashes |= part.fingerprint.hashes
        doc.hashes -= common


def weights(docs: list[Document]) -> dict:
    """Fingerprint -> weight in [0, 1]: 1 if at most two documents hold it, 0 if all do."""
    counts = {}
    for doc in docs:
        for h in doc.hashes:
            counts[h] = counts.get(h, 0) + 1
    n = len(docs)
    if n <= 2:
        return dict.fromkeys(counts, 1.0)
    scale = math.log(n / 2)
    return {h: min(1.0, math.log(n / df) / scale) for h, df in counts.items()}


@dataclass
class Pair:
    a: Document
    b: Document
    score: float          # weighted shared fingerprints / mean size
    a_in_b: float         # weighted share of a's fingerprints that b holds
    b_in_a: float
    raw: float            # unweighted: shared / mean size
    shared: int           # shared fingerprints


def pairs(docs: list[Document], weight: dict) -> list[Pair]:
    """Every pair of student documents and every student-outside pair, most similar first."""
    import numpy as np
    from scipy import sparse
    index = {h: i for i, h in enumerate(weight)}
    rows, cols = [], []
    for r, doc in enumerate(docs):
        cols += [index[h] for h in doc.hashes]
        rows += [r] * len(doc.hashes)
    x = sparse.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(docs), len(index)))
    w = np.array([weight[h] for h in index])
    shared_weight = (x.multiply(w) @ x.T).toarray()
    shared = (x @ x.T).toarray()
    sizes = np.array([doc.size for doc in docs], dtype=float)
    found = []
    for i in range(len(docs)):
        for j in range(i + 1, len(docs)):
            a, b = docs[i], docs[j]
            if a.kind == "outside" and b.kind == "outside":
                continue
            if a.kind == "outside":
                a, b, i2, j2 = b, a, j, i
            else:
                i2, j2 = i, j
            mean = max((sizes[i2] + sizes[j2]) / 2, 1.0)
            found.append(Pair(a, b, shared_weight[i2, j2] / mean,
                              shared_weight[i2, j2] / max(sizes[i2], 1.0),
                              shared_weight[i2, j2] / max(sizes[j2], 1.0),
                              shared[i2, j2] / mean, int(shared[i2, j2])))
    found.sort(key=lambda p: (-p.score, p.a.name, p.b.name))
    return found


def slices(doc: Document, other: Document, keep: set) -> list[list[tuple[int, int]]]:
    """Per part of `doc`, the character spans that match `other` through fingerprints in `keep`
    (copydetect's overlap slices, mapped back to the unfiltered text)."""
    from copydetect.detector import compare_files
    spans = []
    for part in doc.parts:
        mine = copy.copy(part.fingerprint)
        mine.hashes = part.fingerprint.hashes & keep
        found = []
        if mine.hashes:
            for theirs in other.parts:
                if mine.hashes & theirs.fingerprint.hashes:
                    _, _, (ours, _) = compare_files(mine, theirs.fingerprint)
                    found += list(zip(ours[0].tolist(), ours[1].tolist()))
        spans.append(_merge(found))
    return spans


def _merge(spans):
    merged = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((int(start), int(end)))
    return merged
