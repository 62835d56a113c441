"""Notebook documents (LSP 3.17 `notebookDocument/*`): a notebook is analysed as one program,
the concatenation of its Python code cells (`analysis/notebook.py`), under the notebook's URI;
what the engine found is then split into one view per cell, which diagnostics, code actions,
hover and code lenses use exactly as they use a text document.

The loop keeps the notebook's program (`open_docs[notebook_uri]` holds its text); the worker
analyses it like any document and builds the cell views from the program of that text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import unquote

from lsprotocol import types

from ..analysis.findings import SYNTAX_ERROR
from ..analysis.notebook import Program, build_program, cell_problems, to_cells
from ..checker import FileReport
from .convert import LineIndex
from .diagnostics import Analysis, to_diagnostics

if TYPE_CHECKING:
    from .server import TorchlintServer

SYNC_OPTIONS = types.NotebookDocumentSyncOptions(
    notebook_selector=[
        types.NotebookDocumentFilterWithCells(
            notebook="jupyter-notebook", cells=[types.NotebookCellLanguage(language="python")]
        ),
        types.NotebookDocumentFilterWithCells(
            notebook=types.NotebookDocumentFilterNotebookType(notebook_type="jupyter-notebook", pattern="**/*.ipynb"),
            cells=[types.NotebookCellLanguage(language="python")],
        ),
    ],
    save=False,
)


@dataclass
class NotebookState:
    """What the loop knows of one open notebook: its program and which cell is where."""

    uri: str
    program: Program
    cell_uris: dict[int, str]  # cell number (1-based among all cells) -> cell document URI
    cell_versions: dict[str, int | None]
    views: dict[str, Analysis] = field(default_factory=dict)  # cell URI -> view (written on the worker)
    view_text: str | None = None  # the program text the views were built from

    def number_of(self, cell_uri: str) -> int | None:
        return next((n for n, u in self.cell_uris.items() if u == cell_uri), None)


def refresh(ls: TorchlintServer, nb_uri: str) -> NotebookState | None:
    """Rebuild the notebook's program from the workspace's cells (on the loop)."""
    nb = ls.workspace.get_notebook_document(notebook_uri=nb_uri)
    if nb is None:
        return None
    cells: list[tuple[int, str]] = []
    uris: dict[int, str] = {}
    versions: dict[str, int | None] = {}
    for number, cell in enumerate(nb.cells, start=1):
        if cell.kind != types.NotebookCellKind.Code:
            continue
        doc = ls.workspace.text_documents.get(unquote(cell.document))  # pygls keys documents unquoted
        if doc is None or (doc.language_id or "python") != "python":
            continue
        cells.append((number, doc.source))
        uris[number] = cell.document
        versions[cell.document] = doc.version
    prev = ls.notebooks.get(nb_uri)
    state = NotebookState(nb_uri, build_program(cells), uris, versions)
    if prev is not None:
        state.views, state.view_text = prev.views, prev.view_text
    ls.notebooks[nb_uri] = state
    return state


def owner(ls: TorchlintServer, cell_uri: str) -> str | None:
    """The URI of the open notebook that holds `cell_uri` as a Python code cell."""
    for nb_uri, state in ls.notebooks.items():
        if cell_uri in state.cell_versions:
            return nb_uri
    return None


def build_views(ls: TorchlintServer, analysis: Analysis, encoding, related_text) -> None:
    """Split the notebook's analysis into one Analysis per code cell (on the worker)."""
    state = ls.notebooks.get(analysis.uri)
    if state is None or state.program.text != analysis.text:
        return  # the notebook changed meanwhile; the analysis of the new program follows
    program = state.program
    engine = [f for f in analysis.report.findings if f.code != SYNTAX_ERROR]  # the cells' own replace it
    findings = [to_cells(program, f) for f in cell_problems(program, _path(analysis.uri)) + engine]
    loops = [m for m in (program.to_cell(s) for s in analysis.report.training_loops) if m is not None]
    indexes = {n: LineIndex(program.cell(n).source, encoding) for n in state.cell_uris}  # type: ignore[union-attr]
    cells = {n: (uri, indexes[n]) for n, uri in state.cell_uris.items()}
    views: dict[str, Analysis] = {}
    for number, uri in state.cell_uris.items():
        cell = program.cell(number)
        assert cell is not None
        report = FileReport(
            [f for f in findings if f.cell == number],
            [span for n, span in loops if n == number],
            analysis.report.errors,
        )
        view = Analysis(
            uri, state.cell_versions.get(uri), cell.source, report, indexes[number], generation=analysis.generation
        )
        view.cells = cells
        view.notebook = analysis.uri
        view.diagnostics = to_diagnostics(view, related_text)
        views[uri] = view
    state.views, state.view_text = views, analysis.text


def view(ls: TorchlintServer, analysis: Analysis | None, cell_uri: str) -> Analysis | None:
    """The cell's part of the notebook's current analysis."""
    if analysis is None:
        return None
    state = ls.notebooks.get(analysis.uri)
    if state is None or state.view_text != analysis.text:
        return None
    return state.views.get(cell_uri)


def publish(ls: TorchlintServer, analysis: Analysis) -> None:
    """Diagnostics of every code cell of the notebook (an empty list clears a cell)."""
    state = ls.notebooks.get(analysis.uri)
    if state is None or state.view_text != analysis.text:
        return
    for uri in state.cell_uris.values():
        v = state.views.get(uri)
        ls.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(
                uri=uri, diagnostics=ls.with_runtime(uri, v.diagnostics if v else []), version=v.version if v else None
            )
        )


def clear(ls: TorchlintServer, cell_uris) -> None:
    for uri in cell_uris:
        ls.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=uri, diagnostics=[]))


def _path(uri: str) -> str:
    from pygls.uris import to_fs_path

    return to_fs_path(uri) or uri
