"""What the features share, one of each per server: the settings, the open documents, the
diagnostics publisher and the scheduler of analyses (with its worker thread and engines)."""

from __future__ import annotations

from lsprotocol import types
from pygls.lsp.server import LanguageServer

from .configuration import Configuration
from .documents import Documents
from .publishing import Publisher
from .scheduler import Scheduler


class State:
    def __init__(self, server: LanguageServer) -> None:
        self._server = server
        self.configuration = Configuration()
        self.documents = Documents()
        self.publisher = Publisher(server, self.documents, self.configuration)
        self.scheduler = Scheduler(
            self.documents, self.configuration, self.publisher.deliver, self._encoding, on_error=self._log_error
        )

    # -- what the overfit check needs (overfit.Host) ------------------------------------
    def republish(self, uri: str) -> None:
        self.publisher.republish(uri)

    def notebook_cell(self, uri: str) -> tuple[str, dict[int, str]] | None:
        return self.documents.notebook_cell(uri)

    def open_text(self, uri: str) -> str | None:
        snap = self.documents.snapshots.get(uri)
        return snap.text if snap is not None else None

    def _encoding(self) -> str | types.PositionEncodingKind | None:
        try:
            return self._server.workspace.position_encoding
        except RuntimeError:
            return types.PositionEncodingKind.Utf16

    def _log_error(self, message: str) -> None:
        """An analysis job failed (on the worker): say so in the client's log."""
        self.scheduler.post(
            self._server.window_log_message, types.LogMessageParams(type=types.MessageType.Error, message=message)
        )
