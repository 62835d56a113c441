"""The JSON-RPC layer under the server: what pygls 2.1.1 does not answer well on its own.

- A request whose params do not match the LSP types gets a JSON-RPC `InvalidParams` error
  response (pygls drops it and pops up "Error in server", and the client waits forever).
  A malformed notification is logged and dropped.
- `didChange` for a document that was never opened, versions going backwards, a second
  `initialize`: logged, answered where a request needs an answer, never a popup, and no open
  document is lost.
- Errors outside requests go to the log (`window/logMessage`), not to error popups.
- A document's lines break where the LSP breaks them (\\r\\n, \\r, \\n), not where
  `str.splitlines` does (pygls's `TextDocument.lines`).
"""

from __future__ import annotations

import logging
import re
from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams, JsonRpcInvalidRequest
from pygls.protocol import LanguageServerProtocol
from pygls.protocol.language_server import lsp_method
from pygls.workspace.text_document import TextDocument

log = logging.getLogger("torchlint.lsp")

_LINE_WITH_END = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z")


def _lsp_lines(doc: TextDocument) -> tuple[str, ...]:
    """The document's lines (with their ends) as the LSP counts them. pygls 2.1.1 splits them
    with `str.splitlines`, which also breaks at form feeds, \\x0b, \\x1c-\\x1e, \\x85, U+2028 and
    U+2029: an editor's incremental change below such a character went to the wrong line, and
    the server analysed a text the editor did not have."""
    return tuple(_LINE_WITH_END.findall(doc.source))


TextDocument.lines = property(_lsp_lines)  # type: ignore[assignment]


class _Dropped:
    """A message that was answered or logged while being read; nothing more to do."""

    jsonrpc = "dropped"


_DROPPED = _Dropped()


class TorchlintProtocol(LanguageServerProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._initialize_seen = False

    # -- reading -----------------------------------------------------------------------
    def structure_message(self, data: dict[str, Any]):
        try:
            return super().structure_message(data)
        except JsonRpcException as exc:
            if not isinstance(data, dict) or "jsonrpc" not in data:
                raise
            method = data.get("method", "")
            detail = _first_cause(exc)
            if "id" in data and method:
                log.warning("invalid params for request %s (%s): %s", data["id"], method, detail)
                error = JsonRpcInvalidParams(f"invalid params for {method}: {detail}")
                self._send_response(data["id"], error=error.to_response_error())
            else:
                log.warning("dropped a malformed %s message: %s", method or "response", detail)
            return _DROPPED

    def handle_message(self, message: Any):
        if message is _DROPPED:
            return
        super().handle_message(message)

    # -- lifecycle and text sync -------------------------------------------------------------
    @lsp_method(types.INITIALIZE)
    def lsp_initialize(self, params: types.InitializeParams):
        if self._initialize_seen:  # the spec allows one; a second would reset the open documents
            log.warning("a second initialize request was refused")
            raise JsonRpcInvalidRequest("the server is already initialized")
        self._initialize_seen = True
        return (yield from super().lsp_initialize(params))

    @lsp_method(types.WORKSPACE_EXECUTE_COMMAND)
    def lsp_workspace__execute_command(self, params: types.ExecuteCommandParams):
        # pygls hands commands their arguments only: the client's progress token rides along
        # in the first (object) argument, where the overfit command looks for it.
        token = params.work_done_token
        if token is not None and params.arguments and isinstance(params.arguments[0], dict):
            params.arguments[0].setdefault("workDoneToken", token)
        return (yield from super().lsp_workspace__execute_command(params))

    @lsp_method(types.TEXT_DOCUMENT_DID_CHANGE)
    def lsp_text_document__did_change(self, params: types.DidChangeTextDocumentParams):
        uri = params.text_document.uri
        if uri not in self.workspace.text_documents:
            log.warning("didChange for %s, which is not open: ignored", uri)
            return
        old = self.workspace.get_text_document(uri).version
        new = params.text_document.version
        if old is not None and new is not None and new <= old:
            log.warning("didChange for %s goes from version %s to %s: applied in arrival order", uri, old, new)
        yield from super().lsp_text_document__did_change(params)


def _first_cause(exc: BaseException) -> str:
    """The innermost message cattrs gives (e.g. "KeyError: 'position'"), on one line."""
    cause: BaseException | None = exc
    seen = 0
    while cause is not None and seen < 20:
        inner = getattr(cause, "exceptions", None)
        if inner:
            cause = inner[0]
        elif cause.__cause__ is not None:
            cause = cause.__cause__
        else:
            break
        seen += 1
    if cause is None or cause is exc:
        return str(exc)
    text = f"{type(cause).__name__}: {cause}"
    note = getattr(cause, "__notes__", None)
    return f"{text} ({note[0]})" if note else text
