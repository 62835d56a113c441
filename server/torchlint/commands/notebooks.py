"""`torchlint check` on Jupyter notebooks: the code cells as one program, findings reported
per cell, fixes written back into the cells they change and nowhere else."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path

from ..analysis.findings import Edit, Finding, not_analysed
from ..analysis.notebook import (
    Notebook,
    NotebookError,
    Program,
    cell_problems,
    is_python,
    notebook_program,
    read_notebook,
    to_cells,
    with_sources,
)
from ..checker import Checker
from ..codes import SYNTAX_ERROR
from ..fixes import apply_edits, select_fixes

_MAX_FIX_PASSES = 5


@dataclass
class NotebookResult:
    findings: list[Finding] = field(default_factory=list)  # relative to their cells
    errors: list[str] = field(default_factory=list)
    fixed: int = 0
    new_raw: str | None = None  # the notebook's new text, when fixes changed it
    diff: str = ""


def check_notebook(
    checker: Checker, path: Path, raw: str, fix: bool = False, unsafe: bool = False, diff: bool = False
) -> NotebookResult:
    out = NotebookResult()
    try:
        nb = read_notebook(raw)
    except NotebookError as exc:
        out.findings = checker.unread(str(path), [not_analysed(str(path), str(exc))])
        return out
    if not is_python(nb.language):
        note = not_analysed(str(path), f"not a Python notebook (its kernel's language is {nb.language})")
        out.findings = checker.unread(str(path), [note])
        return out
    program = notebook_program(nb)
    findings = _check(checker, path, program, out.errors)
    if fix:
        before = nb
        for _ in range(_MAX_FIX_PASSES):
            sources, n = fixed_sources(program, select_fixes(findings, unsafe))
            if not n:
                break
            nb = read_notebook(with_sources(nb.raw, sources))
            program = notebook_program(nb)
            findings = _check(checker, path, program, out.errors)
            out.fixed += n
        if out.fixed:
            out.new_raw = nb.raw
            if diff:
                out.diff = cell_diff(path, before, nb)
    out.findings.extend(to_cells(program, f) for f in findings)
    return out


def _check(checker: Checker, path: Path, program: Program, errors: list[str]) -> list[Finding]:
    report = checker.check_file(str(path), program.text)
    errors.extend(f"torchlint: {path}: {err}" for err in report.errors)
    return cell_problems(program, str(path)) + [f for f in report.findings if f.code != SYNTAX_ERROR]


def fixed_sources(program: Program, fixes: list[Finding]) -> tuple[dict[int, str], int]:
    """The new text of each cell the fixes change ({cell number: source}), and how many fixes
    apply: a fix applies only when every edit lands on what the user wrote (not on a masked
    magic, not across cells)."""
    per_cell: dict[int, list[Edit]] = {}
    applied = 0
    for f in fixes:
        assert f.fix is not None
        located = [program.cell_edit(e) for e in f.fix.edits]
        if any(where is None for where in located):
            continue
        for where in located:
            cell, edit = where  # type: ignore[misc]
            per_cell.setdefault(cell.number, []).append(edit)
        applied += 1
    sources = {}
    for cell in program.cells:
        if cell.number in per_cell:
            sources[cell.number] = apply_edits(cell.source, per_cell[cell.number])
    return sources, applied


def cell_diff(path: Path, old: Notebook, new: Notebook) -> str:
    """A unified diff per changed cell, headed `a/nb.ipynb:cell 3` as ruff prints it."""
    out: list[str] = []
    for a, b in zip(old.cells, new.cells):
        if a.source != b.source:
            out.extend(
                difflib.unified_diff(
                    _keepends(a.source), _keepends(b.source), f"a/{path}:cell {a.number}", f"b/{path}:cell {b.number}"
                )
            )
    return "".join(out)


def _keepends(text: str) -> list[str]:
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith(("\n", "\r")):
        lines[-1] += "\n"
    return lines
