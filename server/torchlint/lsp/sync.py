"""Text document sync: open, change (incremental; analysed after the debounce) and close."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lsprotocol import types
from pygls.lsp.server import LanguageServer

from . import overfit
from .documents import DocSnapshot

if TYPE_CHECKING:
    from .state import State


def register(server: LanguageServer, state: State) -> None:
    documents, scheduler, publisher = state.documents, state.scheduler, state.publisher

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(params: types.DidOpenTextDocumentParams) -> None:
        doc = params.text_document
        if not _is_python(doc):
            return
        documents.snapshots[doc.uri] = DocSnapshot(doc.version, server.workspace.get_text_document(doc.uri).source)
        scheduler.schedule(doc.uri, delay=0.0)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(params: types.DidChangeTextDocumentParams) -> None:
        uri = params.text_document.uri
        if uri not in documents.snapshots:
            return
        documents.snapshots[uri] = DocSnapshot(
            params.text_document.version, server.workspace.get_text_document(uri).source
        )
        # runtime findings on edited lines are stale; the rest move with their lines
        overfit.on_change(server, uri, params.content_changes)
        scheduler.schedule(uri, delay=state.configuration.options.debounce)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(params: types.DidCloseTextDocumentParams) -> None:
        uri = params.text_document.uri
        if documents.snapshots.pop(uri, None) is None:
            return
        scheduler.cancel(uri)
        publisher.logged_errors.pop(uri, None)
        scheduler.run(lambda: scheduler.forget(uri, dependents=True))
        if not publisher.pull:
            publisher.clear([uri])


def _is_python(doc: types.TextDocumentItem) -> bool:
    return doc.language_id == "python" or doc.uri.endswith((".py", ".pyi"))
