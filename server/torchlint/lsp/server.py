"""`torchlint server`: the pygls 2 language server.

Threads: the asyncio loop handles protocol messages and never analyses; one
`Worker` thread owns the `Checker` (and so Jedi). The loop keeps a snapshot of
every open document (`open_docs`); analysis jobs read the newest snapshot when
they run, and their results are delivered back on the loop, where a result for
a version the editor has already left behind is dropped.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import gc
import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.capabilities import get_capability
from pygls.exceptions import FeatureRequestError
from pygls.lsp.server import LanguageServer
from pygls.uris import from_fs_path, to_fs_path

from .. import __version__
from ..analysis.source import UnreadableFile, decode
from ..checker import Checker, FileReport
from ..config import Config
from . import actions, lenses, notebooks
from . import hover as hover_mod
from .convert import LineIndex
from .diagnostics import Analysis, to_diagnostics
from .folders import GLOBAL, Folder, folder_for
from .protocol import TorchlintProtocol
from .settings import ServerOptions, build_config, overfit_settings, section
from .worker import Worker

try:  # the overfit command lands separately; the server works without it
    from . import overfit as _overfit
except ImportError:  # pragma: no cover - depends on the checkout
    _overfit = None

log = logging.getLogger("torchlint.lsp")

WATCHERS_ID = "torchlint-watched-files"
CONFIG_ID = "torchlint-configuration"
_COLLECT_WHEN_IDLE = 1.0  # seconds without an analysis
_COLLECT_EVERY = 10.0  # seconds: the longest a stream of analyses goes without a full collection
_COLLECT_SHARE = 0.02  # at most this share of the time goes to full collections while analyses stream


@dataclass(frozen=True)
class DocSnapshot:
    version: int | None
    text: str


class TorchlintServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__(
            "torchlint",
            __version__,
            protocol_cls=TorchlintProtocol,
            text_document_sync_kind=types.TextDocumentSyncKind.Incremental,
            notebook_document_sync=notebooks.SYNC_OPTIONS,
        )
        self.options = ServerOptions()
        self.init_settings: dict[str, Any] = {}
        self.trusted = True  # the client's `workspaceTrusted` (VS Code's Restricted Mode sends false)
        self._shown_problems: set[str] = set()
        self.init_problems: list[str] = []  # configuration problems found in `initialize`, shown after `initialized`
        # Every workspace folder with its own settings and configuration, in the client's order
        # (the first one also serves documents outside every folder), and which folder each
        # document belongs to. Replaced as a whole on the loop, read by the worker too.
        self._folders: tuple[dict[str, Folder], dict[str, str]] = ({GLOBAL: Folder(GLOBAL, "", None)}, {})
        self._folders_lock: asyncio.Lock | None = None
        self.pushed_settings: dict[str, Any] = {}  # didChangeConfiguration's settings, for clients that cannot be asked
        self.generation = 0  # the last configuration generation handed out (each folder has its own)
        self.pull = False  # the client pulls diagnostics (textDocument/diagnostic)
        self.open_docs: dict[str, DocSnapshot] = {}  # written on the loop only
        self.notebooks: dict[str, notebooks.NotebookState] = {}  # open notebooks (their programs are in open_docs)
        self.analyses: dict[str, Analysis] = {}  # written on the worker only
        self.loop: asyncio.AbstractEventLoop | None = None
        self.worker = Worker(on_error=self._log_from_thread)
        self._checkers: dict[str, Checker] = {}  # folder uri -> its checker; created and used on the worker only
        self._logged_errors: dict[str, tuple[str, ...]] = {}
        self._refresh_handle: asyncio.Handle | None = None
        self._pending: dict[str, concurrent.futures.Future] = {}  # uri -> its latest keyed analysis job
        self.collect_garbage = False  # `serve` turns the collector's automatic full collections into ours
        self._last_collection = time.monotonic()
        self._collection_cost = 0.0  # seconds the last full collection took

    # -- settings (one set per workspace folder) -------------------------------------
    @property
    def folders(self) -> dict[str, Folder]:
        return self._folders[0]

    def default_folder(self) -> Folder:
        """The first workspace folder: its settings also apply to documents outside every folder."""
        return next(iter(self.folders.values()))

    @property
    def root(self) -> Path | None:
        return self.default_folder().path

    @property
    def config(self) -> Config:
        return self.default_folder().config

    def folder_of(self, uri: str) -> Folder:
        """The workspace folder whose settings apply to `uri` (longest matching path, else the first)."""
        folders, cache = self._folders
        key = cache.get(uri)
        if key is None or key not in folders:
            path = to_fs_path(uri) if uri.startswith("file:") else None
            key = (folder_for(folders.values(), path) or self.default_folder()).uri
            cache[uri] = key
        return folders[key]

    def overfit_settings(self, uri: str | None = None) -> dict[str, Any]:
        """The overfit command's settings: those of the folder of the script it runs."""
        folder = self.folder_of(uri) if uri else self.default_folder()
        return overfit_settings(folder.config, client_ui=self.init_settings.get("clientOverfitUi") is True)

    def can_pull_settings(self) -> bool:
        try:
            return bool(get_capability(self.client_capabilities, "workspace.configuration", False))
        except Exception:
            return False

    def _listed_folders(self) -> list[tuple[str, str, Path | None]]:
        """(uri, name, path) of every workspace folder, else of the root, else the global pseudo-folder."""
        out: list[tuple[str, str, Path | None]] = []
        try:
            listed = list(self.workspace.folders.values())
            root = self.workspace.root_path
        except RuntimeError:  # before initialize
            listed, root = [], None
        for f in listed:
            p = to_fs_path(f.uri)
            if p:
                out.append((f.uri, f.name, Path(p).resolve()))
        if not out and root:
            out.append((from_fs_path(root) or root, Path(root).name, Path(root).resolve()))
        return out or [(GLOBAL, "", None)]

    def rebuild_folders(self, settings: dict[str, dict[str, Any]] | None = None) -> list[str]:
        """Rebuild every folder's configuration (on the loop) from `settings` (folder uri -> the
        client's `torchlint` section for it; missing: what the folder had, else the pushed
        settings). Documents whose configuration changed are analysed again; the problems found
        are returned, not shown (`initialize` may not show messages yet)."""
        old = self.folders
        before = {uri: self.folder_of(uri).generation for uri in self.open_docs}
        new: dict[str, Folder] = {}
        problems: list[str] = []
        listed = self._listed_folders()
        for uri, name, path in listed:
            prev = old.get(uri)
            layer = (settings or {}).get(uri)
            if layer is None:
                layer = prev.settings if prev is not None else self.pushed_settings
            config, found = build_config(path, self.init_settings, layer, trusted=self.trusted)
            if prev is not None and prev.config == config:
                config, generation = prev.config, prev.generation  # same object: the checker keeps its state
            else:
                self.generation += 1
                generation = self.generation
            new[uri] = Folder(uri, name, path, dict(layer), config, generation)
            for p in found:
                if len(listed) > 1 and p.startswith("torchlint settings:"):
                    p = f"torchlint settings of folder {name or uri}:{p[len('torchlint settings:') :]}"
                if p not in problems:
                    problems.append(p)
        self._folders = (new, {})
        self.options = ServerOptions()
        self.options.update(self.init_settings)
        self.options.update(self.default_folder().settings)
        if set(old) - set(new):  # removed folders: their engines go
            self.worker.submit(self._prune_checkers)
        for uri in list(self.open_docs):
            if self.folder_of(uri).generation != before.get(uri):
                self.schedule(uri, delay=0.0, refresh=True)
        return problems

    async def update_folders(self, pull: bool = True) -> None:
        """Ask the client for every folder's settings (when it can be asked), rebuild the folders'
        configurations, show the problems, re-analyse the documents whose configuration changed."""
        if self._folders_lock is None:
            self._folders_lock = asyncio.Lock()
        async with self._folders_lock:  # one at a time: a later change must not be overwritten by an earlier answer
            settings = await self._pull_settings() if pull and self.can_pull_settings() else None
            if settings is None and not self.can_pull_settings():
                settings = {uri: self.pushed_settings for uri, _, _ in self._listed_folders()}
            self.show_problems(self.rebuild_folders(settings))

    async def _pull_settings(self) -> dict[str, dict[str, Any]] | None:
        """`workspace/configuration`, one item per folder (scope = the folder); None when it failed."""
        listed = self._listed_folders()
        try:
            result = await self.workspace_configuration_async(
                types.ConfigurationParams(
                    items=[types.ConfigurationItem(scope_uri=uri or None, section="torchlint") for uri, _, _ in listed]
                )
            )
        except Exception as exc:
            log.warning("workspace/configuration failed: %s", exc)
            return None
        result = list(result or [])
        return {
            uri: (section(result[i]) if i < len(result) and isinstance(result[i], dict) else {})
            for i, (uri, _, _) in enumerate(listed)
        }

    def reload_config(self) -> None:
        """Re-read every folder's pyproject.toml with the settings it has; re-analyse what changed (on the loop)."""
        self.show_problems(self.rebuild_folders())

    def show_problems(self, problems: list[str]) -> None:
        """Configuration problems: each once as a message (the defaults apply meanwhile), and in the log."""
        for p in problems:
            self.window_log_message(types.LogMessageParams(type=types.MessageType.Warning, message=f"torchlint: {p}"))
            if p not in self._shown_problems:
                self._shown_problems.add(p)
                self.window_show_message(
                    types.ShowMessageParams(type=types.MessageType.Warning, message=f"torchlint: {p}")
                )

    def checker(self, folder: Folder | None = None) -> Checker:
        """The engine of `folder` (default: the first folder), with the folder's configuration."""
        assert self.worker.on_thread(), "the checker belongs to the analysis thread"
        folder = folder or self.default_folder()
        checker = self._checkers.get(folder.uri)
        if checker is None:
            checker = self._checkers[folder.uri] = Checker(folder.config, folder.path, incremental=True)
            self._set_overlays(checker)
        elif checker.config is not folder.config:
            workspace = checker.workspace
            checker.update_config(folder.config)
            if checker.workspace is not workspace:  # a new interpreter: a new engine workspace
                self._set_overlays(checker)
        return checker

    def _set_overlays(self, checker: Checker) -> None:
        for uri, snap in list(self.open_docs.items()):
            checker.set_overlay(_path(uri), snap.text)

    def _all_checkers(self) -> list[Checker]:
        return list(self._checkers.values())

    def _prune_checkers(self) -> None:
        for key in set(self._checkers) - set(self.folders):
            del self._checkers[key]

    # -- scheduling (loop side) ------------------------------------------------------
    def schedule(self, uri: str, delay: float, *, force: bool = False, refresh: bool = False, urgent: bool = False):
        fut = self.worker.submit(
            lambda: self._analyze(uri, force=force, refresh=refresh), key=("analyze", uri), delay=delay, urgent=urgent
        )
        fut.torchlint_flags = (force, refresh)  # type: ignore[attr-defined]  # kept when a request expedites it
        self._pending[uri] = fut
        return fut

    async def current_analysis(self, uri: str) -> Analysis | None:
        """The analysis of the document's current version, computing it if needed.

        A request arriving while the debounced analysis of the document is pending waits for
        it rather than starting another one: editors ask for code actions and lenses after every
        keystroke, and each extra analysis would delay the next one. That analysis runs at once,
        ahead of other documents' (a burst of edits across many files must not stand between a
        hover and its answer); it is the one the debounce would have run.
        """
        nb_uri = notebooks.owner(self, uri)
        if nb_uri is not None:  # a notebook cell: its part of the notebook's analysis
            return notebooks.view(self, await self.current_analysis(nb_uri), uri)
        for _ in range(5):
            snap = self.open_docs.get(uri)
            if snap is None:
                return None
            a = self.analyses.get(uri)
            if (
                a is not None
                and a.version == snap.version
                and a.text == snap.text
                and a.generation == self.folder_of(uri).generation
            ):
                return a
            pending = self._pending.get(uri)
            if pending is not None and not pending.done():
                if not pending.running():  # still in its debounce or behind other documents: run it next
                    force, refresh = getattr(pending, "torchlint_flags", (False, False))
                    pending = self.schedule(uri, delay=0.0, force=force, refresh=refresh, urgent=True)
                await _settled(pending)
            else:  # unkeyed: a later debounced job must not cancel this one
                await _settled(self.worker.submit(lambda: self._analyze(uri)))
        # The document kept changing under us: no answer rather than one for an older version.
        a, snap = self.analyses.get(uri), self.open_docs.get(uri)
        if a is not None and snap is not None and a.version == snap.version and a.text == snap.text:
            return a
        return None

    # -- analysis (worker side) ---------------------------------------------------------
    def _analyze(self, uri: str, *, force: bool = False, refresh: bool = False) -> Analysis | None:
        snap = self.open_docs.get(uri)
        if snap is None:
            return None
        folder = self.folder_of(uri)
        generation = folder.generation
        prev = self.analyses.get(uri)
        if (
            not force
            and prev is not None
            and prev.version == snap.version
            and prev.text == snap.text
            and prev.generation == generation
        ):
            return prev
        path = _path(uri)
        checker = self.checker(folder)
        for other in self._all_checkers():  # another folder's files may import this one
            other.set_overlay(path, snap.text)
        if force:
            checker.invalidate(path)
        try:
            report = checker.check_file(path, snap.text)
        except Exception as exc:  # an engine bug: say so, clear this file's diagnostics, keep serving
            log.exception("analysis of %s failed", path)
            report = FileReport(errors=[f"internal error: {type(exc).__name__}: {exc}"])
        analysis = Analysis(
            uri, snap.version, snap.text, report, LineIndex(snap.text, self._encoding()), generation=generation
        )
        analysis.diagnostics = to_diagnostics(analysis, self._text_of)
        if uri in self.notebooks:
            notebooks.build_views(self, analysis, self._encoding(), self._text_of)
        self.analyses[uri] = analysis
        self._post(self._deliver, analysis, refresh)
        if self.collect_garbage:
            self._schedule_collection()
        # The text changed (or was opened unsaved): files whose analysis read this one may change too.
        if (prev.text != snap.text) if prev is not None else (_disk_text(path) != snap.text):
            self._reanalyse_dependents(path)
        return analysis

    def _schedule_collection(self) -> None:
        """A full collection once typing pauses, and now and then while it does not. A full
        collection walks every object of the open documents (hundreds of ms with 50 open): one
        per 20 analyses was several per second during a burst of edits across many documents,
        and hovers waited behind them for seconds. Time-based, it takes a few percent at most."""
        now = time.monotonic()
        if now - self._last_collection >= max(_COLLECT_EVERY, self._collection_cost / _COLLECT_SHARE):
            self._last_collection = now
            self.worker.submit(self._collect, delay=0.05)  # after this result has gone out
        else:
            self.worker.submit(self._collect, key="collect", delay=_COLLECT_WHEN_IDLE)

    def _collect(self) -> None:
        start = time.monotonic()
        gc.collect()
        self._last_collection = time.monotonic()
        self._collection_cost = self._last_collection - start

    def _reanalyse_dependents(self, path: str) -> None:
        for checker in self._all_checkers():
            for dep in checker.dependents(path):
                dep_uri = from_fs_path(dep)
                if dep_uri in self.open_docs:
                    checker.invalidate(dep)
                    self.schedule(dep_uri, delay=0.0, force=True, refresh=True)

    def _text_of(self, path: str) -> str | None:
        snap = self.open_docs.get(from_fs_path(str(Path(path).resolve())) or "")
        return snap.text if snap is not None else _disk_text(path)

    def _encoding(self):
        try:
            return self.workspace.position_encoding
        except RuntimeError:
            return types.PositionEncodingKind.Utf16

    # -- delivery (loop side) --------------------------------------------------------------
    def _post(self, fn: Callable, *args) -> None:
        if self.loop is None:
            return

        def run():
            try:
                fn(*args)
            except Exception:
                log.exception("delivering a result failed")

        self.loop.call_soon_threadsafe(run)

    def _deliver(self, analysis: Analysis, refresh: bool) -> None:
        snap = self.open_docs.get(analysis.uri)
        if snap is None or snap.version != analysis.version or snap.text != analysis.text:
            return  # the editor has moved on; a newer analysis is on its way
        if analysis.generation != self.folder_of(analysis.uri).generation:
            return  # computed under a configuration its folder no longer has
        errors = tuple(analysis.report.errors)
        if errors and self._logged_errors.get(analysis.uri) != errors:
            for e in errors:
                self.window_log_message(
                    types.LogMessageParams(
                        type=types.MessageType.Error, message=f"torchlint: {_path(analysis.uri)}: {e}"
                    )
                )
        self._logged_errors[analysis.uri] = errors
        if self.pull:
            if refresh:
                self._request_refresh()
            return
        self.publish(analysis)

    def publish(self, analysis: Analysis) -> None:
        if analysis.uri in self.notebooks:
            notebooks.publish(self, analysis)
            return
        self.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(
                uri=analysis.uri,
                diagnostics=self.with_runtime(analysis.uri, analysis.diagnostics),
                version=analysis.version,
            )
        )

    def republish(self, uri: str) -> None:
        """Send the current diagnostics of `uri` again (e.g. after an overfit run); call on the loop."""
        if self.pull:
            self._request_refresh()
            return
        uri = notebooks.owner(self, uri) or uri  # a cell: its notebook publishes every cell
        a = self.analyses.get(uri)
        snap = self.open_docs.get(uri)
        if snap is None:  # not open: there are only runtime findings to show
            self.text_document_publish_diagnostics(
                types.PublishDiagnosticsParams(uri=uri, diagnostics=self.runtime_diagnostics(uri))
            )
        elif a is not None and a.version == snap.version and a.text == snap.text:
            self.publish(a)
        # else: the pending analysis of the current version will include them

    def notebook_cell(self, uri: str) -> tuple[str, dict[int, str]] | None:
        """For a notebook cell's URI: the notebook's URI and its code cells' URIs by number."""
        nb_uri = notebooks.owner(self, uri)
        return (nb_uri, dict(self.notebooks[nb_uri].cell_uris)) if nb_uri else None

    def with_runtime(self, uri: str, static: list[types.Diagnostic]) -> list[types.Diagnostic]:
        """`static` merged with the last overfit run's findings (one bug, one diagnostic)."""
        fn = getattr(_overfit, "merged_diagnostics", None)
        if fn is None:
            return [*static, *self.runtime_diagnostics(uri)]
        try:
            return fn(self, uri, static)
        except Exception:
            log.exception("overfit runtime diagnostics failed")
            return list(static)

    def runtime_diagnostics(self, uri: str) -> list[types.Diagnostic]:
        fn = getattr(_overfit, "runtime_diagnostics", None)
        if fn is None:
            return []
        try:
            return list(fn(self, uri) or [])
        except Exception:
            log.exception("overfit runtime diagnostics failed")
            return []

    def _request_refresh(self) -> None:
        if not get_capability(self.client_capabilities, "workspace.diagnostics.refresh_support", False):
            return
        if self._refresh_handle is not None or self.loop is None:
            return

        def send():
            self._refresh_handle = None
            self.workspace_diagnostic_refresh(None)

        self._refresh_handle = self.loop.call_later(0.02, send)

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

    def _log_from_thread(self, message: str) -> None:
        self._post(self.window_log_message, types.LogMessageParams(type=types.MessageType.Error, message=message))


async def _settled(fut: concurrent.futures.Future):
    """Wait for a worker job; its result, or None when it failed or was replaced by a newer job."""
    loop = asyncio.get_running_loop()
    done = loop.create_future()

    def settle(f: concurrent.futures.Future) -> None:
        if not done.done():
            done.set_result(None if f.cancelled() or f.exception() is not None else f.result())

    fut.add_done_callback(lambda f: loop.call_soon_threadsafe(settle, f))
    return await done


def _disk_text(path: str) -> str | None:
    try:
        return decode(Path(path).read_bytes())
    except (OSError, UnreadableFile):
        return None


def _path(uri: str) -> str:
    return to_fs_path(uri) or uri


def _notebook_changed(ls: TorchlintServer, uri: str, version: int, delay: float) -> None:
    state = notebooks.refresh(ls, uri)
    if state is None:
        return
    ls.open_docs[uri] = DocSnapshot(version, state.program.text)
    ls.schedule(uri, delay=delay)


def _is_python(doc: types.TextDocumentItem) -> bool:
    return doc.language_id == "python" or doc.uri.endswith((".py", ".pyi"))


def create_server() -> TorchlintServer:
    server = TorchlintServer()
    _register_commands(server)

    @server.feature(types.INITIALIZE)
    def initialize(ls: TorchlintServer, params: types.InitializeParams):
        ls.loop = asyncio.get_running_loop()
        ls.init_settings = section(params.initialization_options)
        ls.trusted = ls.init_settings.get("workspaceTrusted") is not False
        ls.pull = get_capability(params.capabilities, "text_document.diagnostic") is not None
        # every folder gets the initializationOptions until the client is asked for its own settings
        ls.init_problems = ls.rebuild_folders()  # shown once the client is initialized
        log.info(
            "torchlint %s: folders=%s pull=%s encoding=%s",
            __version__,
            [str(f.path) for f in ls.folders.values()],
            ls.pull,
            ls.workspace.position_encoding,
        )

    @server.feature(types.INITIALIZED)
    async def initialized(ls: TorchlintServer, params: types.InitializedParams):
        ls.show_problems(ls.init_problems)
        caps = ls.client_capabilities
        registrations = []
        if get_capability(caps, "workspace.did_change_watched_files.dynamic_registration", False):
            registrations.append(
                types.Registration(
                    id=WATCHERS_ID,
                    method=types.WORKSPACE_DID_CHANGE_WATCHED_FILES,
                    register_options=types.DidChangeWatchedFilesRegistrationOptions(
                        watchers=[
                            types.FileSystemWatcher(glob_pattern="**/pyproject.toml"),
                            types.FileSystemWatcher(glob_pattern="**/*.py"),
                        ]
                    ),
                )
            )
        if get_capability(caps, "workspace.did_change_configuration.dynamic_registration", False):
            registrations.append(types.Registration(id=CONFIG_ID, method=types.WORKSPACE_DID_CHANGE_CONFIGURATION))
        if registrations:
            try:
                await ls.client_register_capability_async(types.RegistrationParams(registrations=registrations))
            except Exception as exc:
                log.warning("dynamic registration failed: %s", exc)
        if (
            ls.can_pull_settings()
        ):  # each folder's own settings (documents whose configuration changes are analysed again)
            await ls.update_folders()

    @server.feature(types.SHUTDOWN)
    def shutdown(ls: TorchlintServer, params: None):
        ls.worker.stop()

    # -- text sync ---------------------------------------------------------------------
    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: TorchlintServer, params: types.DidOpenTextDocumentParams):
        doc = params.text_document
        if not _is_python(doc):
            return
        ls.open_docs[doc.uri] = DocSnapshot(doc.version, ls.workspace.get_text_document(doc.uri).source)
        ls.schedule(doc.uri, delay=0.0)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: TorchlintServer, params: types.DidChangeTextDocumentParams):
        uri = params.text_document.uri
        if uri not in ls.open_docs:
            return
        ls.open_docs[uri] = DocSnapshot(params.text_document.version, ls.workspace.get_text_document(uri).source)
        if _overfit is not None:  # runtime findings on edited lines are stale; the rest move with their lines
            _overfit.on_change(ls, uri, params.content_changes)
        ls.schedule(uri, delay=ls.options.debounce)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: TorchlintServer, params: types.DidCloseTextDocumentParams):
        uri = params.text_document.uri
        if ls.open_docs.pop(uri, None) is None:
            return
        ls.worker.cancel(("analyze", uri))
        ls._pending.pop(uri, None)
        ls._logged_errors.pop(uri, None)

        def forget():
            path = _path(uri)
            ls.analyses.pop(uri, None)
            for checker in ls._all_checkers():
                checker.set_overlay(path, None)  # back to the file on disk
            ls._reanalyse_dependents(path)

        ls.worker.submit(forget)
        if not ls.pull:
            ls.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=uri, diagnostics=[]))

    # -- notebook sync -----------------------------------------------------------------------
    @server.feature(types.NOTEBOOK_DOCUMENT_DID_OPEN)
    def notebook_did_open(ls: TorchlintServer, params: types.DidOpenNotebookDocumentParams):
        _notebook_changed(ls, params.notebook_document.uri, params.notebook_document.version, delay=0.0)

    @server.feature(types.NOTEBOOK_DOCUMENT_DID_CHANGE)
    def notebook_did_change(ls: TorchlintServer, params: types.DidChangeNotebookDocumentParams):
        uri = params.notebook_document.uri
        if uri not in ls.notebooks:
            return
        before = set(ls.notebooks[uri].cell_versions)
        _notebook_changed(ls, uri, params.notebook_document.version, delay=ls.options.debounce)
        if not ls.pull:  # cells removed, or no longer Python, keep no diagnostics
            notebooks.clear(ls, before - set(ls.notebooks[uri].cell_versions))

    @server.feature(types.NOTEBOOK_DOCUMENT_DID_CLOSE)
    def notebook_did_close(ls: TorchlintServer, params: types.DidCloseNotebookDocumentParams):
        uri = params.notebook_document.uri
        state = ls.notebooks.pop(uri, None)
        if state is None:
            return
        ls.open_docs.pop(uri, None)
        ls.worker.cancel(("analyze", uri))
        ls._pending.pop(uri, None)

        def forget():
            ls.analyses.pop(uri, None)
            for checker in ls._all_checkers():
                checker.set_overlay(_path(uri), None)

        ls.worker.submit(forget)
        if not ls.pull:
            notebooks.clear(ls, [*state.cell_versions, *(c.uri for c in params.cell_text_documents)])

    # -- diagnostics (pull) ---------------------------------------------------------------
    @server.feature(
        types.TEXT_DOCUMENT_DIAGNOSTIC,
        types.DiagnosticOptions(identifier="torchlint", inter_file_dependencies=True, workspace_diagnostics=True),
    )
    async def document_diagnostic(ls: TorchlintServer, params: types.DocumentDiagnosticParams):
        a = await ls.current_analysis(params.text_document.uri)
        items = ls.with_runtime(a.uri, a.diagnostics) if a else []
        return types.RelatedFullDocumentDiagnosticReport(items=items, result_id=a.result_id if a else None)

    @server.feature(types.WORKSPACE_DIAGNOSTIC)
    async def workspace_diagnostic(ls: TorchlintServer, params: types.WorkspaceDiagnosticParams):
        reports = []
        for uri in list(ls.open_docs):
            a = await ls.current_analysis(uri)
            if a is None:
                continue
            if uri in ls.notebooks:  # a report per cell, never one for the notebook's program
                for cell_uri in list(ls.notebooks[uri].cell_uris.values()):
                    v = notebooks.view(ls, a, cell_uri)
                    if v is not None:
                        reports.append(
                            types.WorkspaceFullDocumentDiagnosticReport(
                                uri=cell_uri, version=v.version, items=v.diagnostics, result_id=v.result_id
                            )
                        )
                continue
            reports.append(
                types.WorkspaceFullDocumentDiagnosticReport(
                    uri=uri, version=a.version, items=ls.with_runtime(uri, a.diagnostics), result_id=a.result_id
                )
            )
        return types.WorkspaceDiagnosticReport(items=reports)

    # -- code actions, lenses, hover -----------------------------------------------------------
    @server.feature(
        types.TEXT_DOCUMENT_CODE_ACTION,
        types.CodeActionOptions(code_action_kinds=actions.KINDS, resolve_provider=False),
    )
    async def code_action(ls: TorchlintServer, params: types.CodeActionParams):
        a = await ls.current_analysis(params.text_document.uri)
        if a is None:
            return None
        document_changes = bool(
            get_capability(ls.client_capabilities, "workspace.workspace_edit.document_changes", False)
        )
        return actions.code_actions(a, params.range, params.context, document_changes) or None

    @server.feature(types.TEXT_DOCUMENT_CODE_LENS, types.CodeLensOptions(resolve_provider=False))
    async def code_lens(ls: TorchlintServer, params: types.CodeLensParams):
        a = await ls.current_analysis(params.text_document.uri)
        return lenses.code_lenses(a) if a else None

    @server.feature(types.TEXT_DOCUMENT_HOVER)
    async def hover(ls: TorchlintServer, params: types.HoverParams):
        a = await ls.current_analysis(params.text_document.uri)
        return hover_mod.hover(a, params.position) if a else None

    # -- workspace -------------------------------------------------------------------------
    @server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
    async def did_change_configuration(ls: TorchlintServer, params: types.DidChangeConfigurationParams):
        """A client that answers `workspace/configuration` is asked again, for every folder (the
        settings it pushes cannot differ per folder); otherwise its settings apply to all folders.
        Only documents whose configuration changed are analysed (and published) again."""
        settings = params.settings
        if isinstance(settings, dict):
            ls.pushed_settings = (
                dict(settings["torchlint"]) if isinstance(settings.get("torchlint"), dict) else dict(settings)
            )
        await ls.update_folders()

    @server.feature(types.WORKSPACE_DID_CHANGE_WORKSPACE_FOLDERS)
    async def did_change_workspace_folders(ls: TorchlintServer, params: types.DidChangeWorkspaceFoldersParams):
        # pygls has updated `ls.workspace.folders` already; documents that move to another folder
        # (or whose folder went away) are analysed again with their new folder's settings
        await ls.update_folders()

    @server.feature(types.WORKSPACE_DID_CHANGE_WATCHED_FILES)
    def did_change_watched_files(ls: TorchlintServer, params: types.DidChangeWatchedFilesParams):
        config_changed = False
        changed: list[str] = []
        for change in params.changes:
            path = _path(change.uri)
            if Path(path).name == "pyproject.toml":
                config_changed = True
            elif path.endswith((".py", ".pyi")) and change.uri not in ls.open_docs:
                changed.append(path)  # open documents are covered by their own edits
        if changed:

            def refresh():
                for path in changed:
                    for checker in ls._all_checkers():
                        checker.invalidate(path)
                    ls._reanalyse_dependents(path)

            ls.worker.submit(refresh)
        if config_changed:
            ls.reload_config()

    return server


def _register_commands(server: TorchlintServer) -> None:
    register = getattr(_overfit, "register", None)
    if register is not None:
        try:
            register(server, server.overfit_settings, trusted=lambda: server.trusted)
        except Exception:
            log.exception("overfit command registration failed")
    for name in (lenses.RUN_OVERFIT, lenses.CANCEL_OVERFIT):
        if name not in server.protocol.fm.commands:
            server.command(name)(_unavailable)


def _unavailable(ls: TorchlintServer, *args):
    ls.window_show_message(
        types.ShowMessageParams(
            type=types.MessageType.Warning, message="torchlint: the overfit check is not available in this build"
        )
    )


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
    server.collect_garbage = True
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
