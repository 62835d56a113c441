"""Notebook documents (LSP 3.17 `notebookDocument/*`): a notebook is analysed as one program,
the concatenation of its Python code cells (`analysis/notebook.py`), under the notebook's URI;
what the engine found is then split into one view per cell, which diagnostics, code actions,
hover and code lenses use exactly as they use a text document.

The loop keeps the notebook's program (its document snapshot is the program's text); the worker
analyses it like any document and builds the cell views from the program of that text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import unquote

from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.uris import to_fs_path
from pygls.workspace import Workspace

from ..analysis.findings import SYNTAX_ERROR
from ..analysis.notebook import Program, build_program, cell_problems, to_cells
from ..checker import FileReport
from .convert import LineIndex
from .diagnostics import Analysis, RelatedText, to_diagnostics
from .documents import DocSnapshot

if TYPE_CHECKING:
    from .state import State

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


def refresh(workspace: Workspace, notebooks: dict[str, NotebookState], nb_uri: str) -> NotebookState | None:
    """Rebuild the notebook's program from the workspace's cells (on the loop)."""
    nb = workspace.get_notebook_document(notebook_uri=nb_uri)
    if nb is None:
        return None
    cells: list[tuple[int, str]] = []
    uris: dict[int, str] = {}
    versions: dict[str, int | None] = {}
    for number, cell in enumerate(nb.cells, start=1):
        if cell.kind != types.NotebookCellKind.Code:
            continue
        doc = workspace.text_documents.get(unquote(cell.document))  # pygls keys documents unquoted
        if doc is None or (doc.language_id or "python") != "python":
            continue
        cells.append((number, doc.source))
        uris[number] = cell.document
        versions[cell.document] = doc.version
    prev = notebooks.get(nb_uri)
    state = NotebookState(nb_uri, build_program(cells), uris, versions)
    if prev is not None:
        state.views, state.view_text = prev.views, prev.view_text
    notebooks[nb_uri] = state
    return state


def build_views(
    state: NotebookState | None,
    analysis: Analysis,
    encoding: str | types.PositionEncodingKind | None,
    related_text: RelatedText,
) -> None:
    """Split the notebook's analysis into one Analysis per code cell (on the worker)."""
    if state is None or state.program.text != analysis.text:
        return  # the notebook changed meanwhile; the analysis of the new program follows
    program = state.program
    engine = [f for f in analysis.report.findings if f.code != SYNTAX_ERROR]  # the cells' own replace it
    findings = [to_cells(program, f) for f in cell_problems(program, to_fs_path(analysis.uri) or analysis.uri) + engine]
    loops = [m for m in (program.to_cell(s) for s in analysis.report.training_loops) if m is not None]
    sources = {n: cell.source for n in state.cell_uris if (cell := program.cell(n)) is not None}
    indexes = {n: LineIndex(source, encoding) for n, source in sources.items()}
    cells = {n: (uri, indexes[n]) for n, uri in state.cell_uris.items()}
    views: dict[str, Analysis] = {}
    for number, uri in state.cell_uris.items():
        report = FileReport(
            [f for f in findings if f.cell == number],
            [span for n, span in loops if n == number],
            analysis.report.errors,
        )
        view = Analysis(
            uri, state.cell_versions.get(uri), sources[number], report, indexes[number], generation=analysis.generation
        )
        view.cells = cells
        view.notebook = analysis.uri
        view.diagnostics = to_diagnostics(view, related_text)
        views[uri] = view
    state.views, state.view_text = views, analysis.text


def view(notebooks: dict[str, NotebookState], analysis: Analysis | None, cell_uri: str) -> Analysis | None:
    """The cell's part of the notebook's current analysis."""
    if analysis is None:
        return None
    state = notebooks.get(analysis.uri)
    if state is None or state.view_text != analysis.text:
        return None
    return state.views.get(cell_uri)


def register(server: LanguageServer, state: State) -> None:
    """Notebook sync: the notebook's program is a document of its own, analysed like a text one."""
    documents, scheduler, publisher = state.documents, state.scheduler, state.publisher

    def changed(uri: str, version: int, delay: float) -> None:
        nb = refresh(server.workspace, documents.notebooks, uri)
        if nb is None:
            return
        documents.snapshots[uri] = DocSnapshot(version, nb.program.text)
        scheduler.schedule(uri, delay=delay)

    @server.feature(types.NOTEBOOK_DOCUMENT_DID_OPEN)
    def did_open(params: types.DidOpenNotebookDocumentParams) -> None:
        changed(params.notebook_document.uri, params.notebook_document.version, delay=0.0)

    @server.feature(types.NOTEBOOK_DOCUMENT_DID_CHANGE)
    def did_change(params: types.DidChangeNotebookDocumentParams) -> None:
        uri = params.notebook_document.uri
        if uri not in documents.notebooks:
            return
        before = set(documents.notebooks[uri].cell_versions)
        changed(uri, params.notebook_document.version, delay=state.configuration.options.debounce)
        if not publisher.pull:  # cells removed, or no longer Python, keep no diagnostics
            publisher.clear(before - set(documents.notebooks[uri].cell_versions))

    @server.feature(types.NOTEBOOK_DOCUMENT_DID_CLOSE)
    def did_close(params: types.DidCloseNotebookDocumentParams) -> None:
        uri = params.notebook_document.uri
        nb = documents.notebooks.pop(uri, None)
        if nb is None:
            return
        documents.snapshots.pop(uri, None)
        scheduler.cancel(uri)
        scheduler.run(lambda: scheduler.forget(uri, dependents=False))
        if not publisher.pull:
            publisher.clear([*nb.cell_versions, *(c.uri for c in params.cell_text_documents)])
