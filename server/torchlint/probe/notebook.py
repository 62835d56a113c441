"""The overfit check on a Jupyter notebook: its code cells, in order, run as one script (the
program torchlint analyses: IPython syntax masked, `%time x = f()` kept as `x = f()`), from the
notebook's directory as Jupyter runs it; what the run reports at lines of that script is
mapped back to cells."""

from __future__ import annotations

import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..analysis.findings import Position
from ..analysis.notebook import NotebookError, Program, is_python, notebook_program, read_notebook
from ..analysis.source import decode
from .report import Report


class NotebookNotRunnable(Exception):
    """The notebook cannot run as a script; the message says why and where."""


@dataclass
class NotebookScript:
    notebook: Path
    script: Path  # the generated script, in a private temp dir
    program: Program

    def locate(self, row: int | None) -> tuple[int, int] | None:
        """(cell number, 1-based row in the cell) of a 1-based script row."""
        if row is None:
            return None
        cell = self.program.cell_at(row - 1)
        if cell is None:
            return None
        return cell.number, cell.local(Position(row - 1, 0)).line + 1

    def cleanup(self) -> None:
        shutil.rmtree(self.script.parent, ignore_errors=True)


def prepare(notebook: Path) -> NotebookScript:
    try:
        nb = read_notebook(decode(notebook.read_bytes()))
    except (NotebookError, OSError, ValueError) as exc:
        raise NotebookNotRunnable(f"cannot read {notebook.name}: {exc}") from None
    if not is_python(nb.language):
        raise NotebookNotRunnable(f"{notebook.name} is not a Python notebook (its kernel's language is {nb.language})")
    program = notebook_program(nb)
    if program.problems:
        number, problem = program.problems[0]
        raise NotebookNotRunnable(
            f"cell {number} of {notebook.name} does not parse ({problem.message}, line {problem.span.start.line + 1}): "
            "run as a script, the notebook would stop there"
        )
    folder = Path(tempfile.mkdtemp(prefix="torchlint-notebook-"))
    script = folder / (re.sub(r"\W", "_", notebook.stem) + ".py")
    script.write_text(program.text, encoding="utf-8")
    return NotebookScript(notebook, script, program)


_INTERACTIVE_STATE = re.compile(r"^(NameError|UnboundLocalError)\b|^ModuleNotFoundError\b.*'(google\.colab|IPython)")


def interactive_state_note(error: str | None, cell: int | None) -> str | None:
    """Why a notebook that ran in Jupyter may fail here: what it used was defined by cells run
    out of order, deleted since, or by the kernel (`get_ipython`, `display`)."""
    if not error or not _INTERACTIVE_STATE.search(error):
        return None
    where = f" in cell {cell}" if cell is not None else ""
    return (
        f"the notebook's cells, run top to bottom, fail{where} with {error.split(':')[0]}: it may need state that "
        "only an interactive session had (cells run out of order or deleted since, or names IPython provides "
        "such as `display`); restart the kernel and run all cells to reproduce it in Jupyter"
    )


def map_report(report: Report, nb: NotebookScript) -> None:
    """Point what the run reported at the notebook's cells instead of the generated script."""
    script = str(nb.script)
    notebook = str(nb.notebook)
    report.script = notebook
    for f in report.findings:
        if f.filename and _same(f.filename, nb.script):
            where = nb.locate(f.row)
            f.filename = notebook
            if where is not None:
                f.cell, f.row = where
    cell = None
    if report.error_location and _same(report.error_location.get("filename") or "", nb.script):
        where = nb.locate(report.error_location.get("row"))
        report.error_location = {
            "filename": notebook,
            "row": where[1] if where else None,
            "cell": where[0] if where else None,
        }
        cell = where[0] if where else None
    for attr in ("error", "summary", "output_tail"):
        value = getattr(report, attr, None)
        if isinstance(value, str) and script in value:
            setattr(report, attr, value.replace(script, notebook))
    report.notes.insert(
        0,
        f"ran the notebook's {len(nb.program.cells)} code cells in order as one script "
        "(IPython magics and shell commands skipped)",
    )
    note = interactive_state_note(report.error, cell)
    if note is not None:
        report.notes.append(note)


def _same(a: str, b: Path) -> bool:
    try:
        return Path(a).resolve() == b.resolve()
    except OSError:
        return False
