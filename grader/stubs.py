"""Turn fenced reference source into student stubs (and into deliberately buggy variants).

The fence vocabulary is nbgrader's own (``### BEGIN SOLUTION`` / ``### END SOLUTION``), so one
marker set serves notebooks and ``.py`` modules. A region is named by the function that holds
it (``Dense.backward``): the same name appears in the stub's error, in the check that grades it
and in the demo's and tests' mutants, so a student can follow a failure back to its task.
"""
from __future__ import annotations

import ast

BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"
HIDDEN_BEGIN = "### BEGIN HIDDEN TESTS"
HIDDEN_END = "### END HIDDEN TESTS"


class FenceError(ValueError):
    """The source's fences are malformed: the release must not guess what is secret."""


def _owners(source: str) -> dict[int, str]:
    """Line number -> qualified name of the innermost function or class holding that line."""
    owners: dict[int, str] = {}

    def visit(node, prefix):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = f"{prefix}{child.name}"
                for line in range(child.lineno, child.end_lineno + 1):
                    owners[line] = name
                visit(child, name + ".")
            else:
                visit(child, prefix)

    visit(ast.parse(source), "")
    return owners


def regions(source: str, filename: str = "<source>") -> list[tuple[str, int, int]]:
    """The fenced regions as (task name, first line, last line), 1-based, fences included."""
    found, start = [], None
    for number, line in enumerate(source.splitlines(), 1):
        marker = line.strip()
        if marker == BEGIN:
            if start is not None:
                raise FenceError(f"{filename}:{number}: {BEGIN} inside another solution region")
            start = number
        elif marker == END:
            if start is None:
                raise FenceError(f"{filename}:{number}: {END} without {BEGIN}")
            found.append((start, number))
            start = None
    if start is not None:
        raise FenceError(f"{filename}:{start}: {BEGIN} is never closed")
    owners = _owners(source)
    names = [owners.get(first, "<module>") for first, _ in found]
    duplicates = {name for name in names if names.count(name) > 1}
    if duplicates:
        raise FenceError(f"{filename}: more than one solution region in {sorted(duplicates)}")
    return [(name, first, last) for name, (first, last) in zip(names, found)]


def fill(source: str, bodies: dict[str, str], default: str | None = None,
         filename: str = "<source>") -> str:
    """Replace each fenced region by `bodies[task]` (or `default`, or the solution itself when
    neither is given), re-indented to the region; fences are always removed."""
    unknown = set(bodies) - {name for name, _, _ in regions(source, filename)}
    if unknown:
        raise FenceError(f"{filename}: no solution region named {sorted(unknown)}")
    lines = source.splitlines(keepends=True)
    out, cursor = [], 0
    for name, first, last in regions(source, filename):
        out.extend(lines[cursor:first - 1])
        indent = lines[first - 1][: len(lines[first - 1]) - len(lines[first - 1].lstrip())]
        body = bodies.get(name, default)
        if body is None:
            out.extend(lines[first:last - 1])
        else:
            body = body.replace("{task}", name)
            out.extend(indent + row + "\n" if row.strip() else "\n"
                       for row in _dedent(body).splitlines())
        cursor = last
    out.extend(lines[cursor:])
    return "".join(out)


def _dedent(text: str) -> str:
    import textwrap
    return textwrap.dedent(text).strip("\n")


STUB_BODY = '# YOUR CODE HERE\nraise NotImplementedError("{task} is not implemented yet")'


def make_stub(source: str, filename: str = "<source>") -> str:
    """The student's version: every solution region becomes a NotImplementedError naming it."""
    stub = fill(source, {}, default=STUB_BODY, filename=filename)
    compile(stub, filename, "exec")
    return stub


def make_reference(source: str, filename: str = "<source>") -> str:
    """The solution with the fences removed."""
    return fill(source, {}, filename=filename)


def secret_lines(source: str, filename: str = "<source>") -> set[str]:
    """Lines that only the solution regions contain: what a leak scan looks for.

    Lines that also appear outside the regions (``return grad_output, []`` in Identity) are
    public by construction; short keyword lines (``else:``) identify nothing.
    """
    inside, outside = set(), set()
    lines = source.splitlines()
    spans = [(first, last) for _, first, last in regions(source, filename)]
    for number, line in enumerate(lines, 1):
        text = line.strip()
        in_region = any(first < number < last for first, last in spans)
        (inside if in_region else outside).add(text)
    return {text for text in inside - outside
            if len(text) >= 12 and not text.startswith("#")}
