"""`torchlint server`: the pygls 2 language server, composed of feature modules over one
shared `State` (jedi-language-server's shape).

Threads: the asyncio loop handles protocol messages and never analyses; one worker thread
owns the engines (and so Jedi). See `scheduler.py` for how analyses are scheduled and their
results delivered, `documents.py` for what the loop keeps of the open documents.
"""

from __future__ import annotations

import gc
import logging
import sys
from typing import Any

from lsprotocol import types
from pygls.exceptions import FeatureRequestError
from pygls.lsp.server import LanguageServer

from .. import __version__
from . import actions, hover, lenses, lifecycle, notebooks, overfit, publishing, sync, workspace
from .protocol import TorchlintProtocol
from .state import State

log = logging.getLogger("torchlint.lsp")


class TorchlintServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__(
            "torchlint",
            __version__,
            protocol_cls=TorchlintProtocol,
            text_document_sync_kind=types.TextDocumentSyncKind.Incremental,
            notebook_document_sync=notebooks.SYNC_OPTIONS,
        )
        self.state = State(self)

    def report_server_error(self, error: Exception, source: Any) -> None:
        """Errors outside a request: to the log, not to a popup (pygls shows "Error in server").
        A failed request already carries its error in the response."""
        if source is FeatureRequestError:
            log.info("request failed: %s: %s", type(error).__name__, error)
            return
        log.error("server error (%s): %s: %s", getattr(source, "__name__", source), type(error).__name__, error)
        try:
            self.window_log_message(
                types.LogMessageParams(
                    type=types.MessageType.Error, message=f"torchlint: internal error: {type(error).__name__}: {error}"
                )
            )
        except Exception:
            pass


def create_server() -> TorchlintServer:
    server = TorchlintServer()
    state = server.state
    overfit.register(
        server, state.configuration.overfit_settings, trusted=lambda: state.configuration.trusted, host=state
    )
    for feature in (lifecycle, sync, notebooks, publishing, actions, lenses, hover, workspace):
        feature.register(server, state)
    return server


def serve(tcp: str | None = None, log_file: str | None = None) -> int:
    handler: logging.Handler = (
        logging.FileHandler(log_file, encoding="utf-8") if log_file else logging.StreamHandler(sys.stderr)
    )
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root_logger = logging.getLogger()
    root_logger.addHandler(handler)
    root_logger.setLevel(logging.DEBUG if log_file else logging.WARNING)
    logging.getLogger("pygls").setLevel(logging.INFO if log_file else logging.WARNING)
    server = create_server()
    # Everything imported so far (pygls, lsprotocol's thousands of classes, the rules) lives as
    # long as the process: keep it out of the cyclic GC's scans, which run during every analysis.
    gc.freeze()
    # A full collection walks every object the workspace holds (the syntax trees and models of
    # the files a training script imports): hundreds of ms in a big project, on whichever
    # keystroke triggers it. The server runs full collections itself, between analyses.
    gc.set_threshold(700, 10, 1_000_000_000)
    server.state.scheduler.collect_garbage = True
    if tcp:
        host, _, port = tcp.rpartition(":")
        try:
            server.start_tcp(host or "127.0.0.1", int(port))
        except ValueError:
            print(f"torchlint server: --tcp expects HOST:PORT, not {tcp!r}", file=sys.stderr)
            return 2
        return 0
    # Keep stdout for the protocol: a stray print() anywhere must not corrupt it.
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr
    server.start_io(stdin, stdout)
    return 0 if getattr(server.protocol, "_shutdown", False) else 1
