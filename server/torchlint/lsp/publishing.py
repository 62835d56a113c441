"""Diagnostics to the client: pushed (`textDocument/publishDiagnostics`), or pulled
(`textDocument/diagnostic`, `workspace/diagnostic`) when the client declares it; never both.
What the client receives is the engine's diagnostics merged with the last overfit run's
runtime findings of the same document (one bug, one diagnostic)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING

from lsprotocol import types
from pygls.capabilities import get_capability
from pygls.lsp.server import LanguageServer

from . import notebooks, overfit
from .configuration import Configuration
from .diagnostics import Analysis
from .documents import Documents, fs_path

if TYPE_CHECKING:
    from .state import State

log = logging.getLogger("torchlint.lsp")

_REFRESH_DELAY = 0.02  # seconds: one workspace/diagnostic/refresh for a burst of results


class Publisher:
    def __init__(self, server: LanguageServer, documents: Documents, configuration: Configuration) -> None:
        self._server = server
        self._documents = documents
        self._configuration = configuration
        self.pull = False  # the client pulls diagnostics (textDocument/diagnostic)
        self.logged_errors: dict[str, tuple[str, ...]] = {}
        self._refresh_handle: asyncio.Handle | None = None

    def deliver(self, analysis: Analysis, refresh: bool) -> None:
        """A finished analysis, on the loop: published unless the document or its configuration
        has moved on (a newer analysis is on its way); engine errors go to the log once."""
        if not self._documents.matches(analysis):
            return  # the editor has moved on; a newer analysis is on its way
        if analysis.generation != self._configuration.folder_of(analysis.uri).generation:
            return  # computed under a configuration its folder no longer has
        errors = tuple(analysis.report.errors)
        if errors and self.logged_errors.get(analysis.uri) != errors:
            for e in errors:
                self._server.window_log_message(
                    types.LogMessageParams(
                        type=types.MessageType.Error, message=f"torchlint: {fs_path(analysis.uri)}: {e}"
                    )
                )
        self.logged_errors[analysis.uri] = errors
        if self.pull:
            if refresh:
                self.request_refresh()
            return
        self.publish(analysis)

    def publish(self, analysis: Analysis) -> None:
        if analysis.uri in self._documents.notebooks:
            self._publish_cells(analysis)
            return
        self._server.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(
                uri=analysis.uri,
                diagnostics=self.with_runtime(analysis.uri, analysis.diagnostics),
                version=analysis.version,
            )
        )

    def _publish_cells(self, analysis: Analysis) -> None:
        """Diagnostics of every code cell of the notebook (an empty list clears a cell)."""
        state = self._documents.notebooks.get(analysis.uri)
        if state is None or state.view_text != analysis.text:
            return
        for uri in state.cell_uris.values():
            v = state.views.get(uri)
            self._server.text_document_publish_diagnostics(
                types.PublishDiagnosticsParams(
                    uri=uri,
                    diagnostics=self.with_runtime(uri, v.diagnostics if v else []),
                    version=v.version if v else None,
                )
            )

    def clear(self, uris: Iterable[str]) -> None:
        for uri in uris:
            self._server.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=uri, diagnostics=[]))

    def republish(self, uri: str) -> None:
        """Send the current diagnostics of `uri` again (after an overfit run); on the loop."""
        if self.pull:
            self.request_refresh()
            return
        uri = self._documents.notebook_of(uri) or uri  # a cell: its notebook publishes every cell
        a = self._documents.analyses.get(uri)
        if uri not in self._documents.snapshots:  # not open: there are only runtime findings to show
            self._server.text_document_publish_diagnostics(
                types.PublishDiagnosticsParams(uri=uri, diagnostics=self._runtime(uri))
            )
        elif a is not None and self._documents.matches(a):
            self.publish(a)
        # else: the pending analysis of the current version will include them

    def with_runtime(self, uri: str, static: list[types.Diagnostic]) -> list[types.Diagnostic]:
        """`static` merged with the last overfit run's findings (one bug, one diagnostic)."""
        try:
            return overfit.merged_diagnostics(self._server, uri, static)
        except Exception:
            log.exception("overfit runtime diagnostics failed")
            return list(static)

    def _runtime(self, uri: str) -> list[types.Diagnostic]:
        try:
            return overfit.runtime_diagnostics(self._server, uri)
        except Exception:
            log.exception("overfit runtime diagnostics failed")
            return []

    def request_refresh(self) -> None:
        """Ask a pulling client to pull again (`workspace/diagnostic/refresh`), on the loop."""
        if not get_capability(self._server.client_capabilities, "workspace.diagnostics.refresh_support", False):
            return
        if self._refresh_handle is not None:
            return

        def send() -> None:
            self._refresh_handle = None
            self._server.workspace_diagnostic_refresh(None)

        self._refresh_handle = asyncio.get_running_loop().call_later(_REFRESH_DELAY, send)


def register(server: LanguageServer, state: State) -> None:
    """The pull model's requests (a client that pulls gets nothing pushed)."""
    documents, current, publisher = state.documents, state.scheduler.current_analysis, state.publisher

    @server.feature(
        types.TEXT_DOCUMENT_DIAGNOSTIC,
        types.DiagnosticOptions(identifier="torchlint", inter_file_dependencies=True, workspace_diagnostics=True),
    )
    async def document_diagnostic(params: types.DocumentDiagnosticParams) -> types.RelatedFullDocumentDiagnosticReport:
        a = await current(params.text_document.uri)
        items = publisher.with_runtime(a.uri, a.diagnostics) if a else []
        return types.RelatedFullDocumentDiagnosticReport(items=items, result_id=a.result_id if a else None)

    @server.feature(types.WORKSPACE_DIAGNOSTIC)
    async def workspace_diagnostic(params: types.WorkspaceDiagnosticParams) -> types.WorkspaceDiagnosticReport:
        reports: list[types.WorkspaceDocumentDiagnosticReport] = []
        for uri in list(documents.snapshots):
            a = await current(uri)
            if a is None:
                continue
            if uri in documents.notebooks:  # a report per cell, never one for the notebook's program
                for cell_uri in list(documents.notebooks[uri].cell_uris.values()):
                    v = notebooks.view(documents.notebooks, a, cell_uri)
                    if v is not None:
                        reports.append(
                            types.WorkspaceFullDocumentDiagnosticReport(
                                uri=cell_uri, version=v.version, items=v.diagnostics, result_id=v.result_id
                            )
                        )
                continue
            reports.append(
                types.WorkspaceFullDocumentDiagnosticReport(
                    uri=uri, version=a.version, items=publisher.with_runtime(uri, a.diagnostics), result_id=a.result_id
                )
            )
        return types.WorkspaceDiagnosticReport(items=reports)
