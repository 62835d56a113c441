"""When documents are analysed, and on which thread.

The loop handles protocol messages and never analyses; the one `Worker` thread owns the
engines (and so Jedi). Each document's analysis is debounced (a later edit replaces the job
still waiting); a request that needs the current analysis expedites it and waits for it.
Results go back to the loop (`deliver`), where one for a version the editor has left behind
is dropped. Full garbage collections run here too, between analyses.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import gc
import logging
import time
from collections.abc import Callable
from typing import Any

from lsprotocol import types
from pygls.uris import from_fs_path

from ..checker import FileReport
from . import notebooks
from .configuration import Configuration
from .convert import LineIndex
from .diagnostics import Analysis, to_diagnostics
from .documents import Documents, disk_text, fs_path
from .engines import Engines
from .worker import Worker

log = logging.getLogger("torchlint.lsp")

_COLLECT_WHEN_IDLE = 1.0  # seconds without an analysis
_COLLECT_EVERY = 10.0  # seconds: the longest a stream of analyses goes without a full collection
_COLLECT_SHARE = 0.02  # at most this share of the time goes to full collections while analyses stream


class Scheduler:
    def __init__(
        self,
        documents: Documents,
        configuration: Configuration,
        deliver: Callable[[Analysis, bool], None],
        encoding: Callable[[], str | types.PositionEncodingKind | None],
        on_error: Callable[[str], None],
    ) -> None:
        self._documents = documents
        self._configuration = configuration
        self._deliver = deliver
        self._encoding = encoding
        self._worker = Worker(on_error=on_error)
        self.engines = Engines(documents, self._worker.on_thread)
        self.loop: asyncio.AbstractEventLoop | None = None  # set by `initialize`
        # uri -> its latest keyed job and that job's (force, refresh), kept when a request expedites it
        self._pending: dict[str, tuple[concurrent.futures.Future[Analysis | None], bool, bool]] = {}
        self.collect_garbage = False  # `serve` turns the collector's automatic full collections into ours
        self._last_collection = time.monotonic()
        self._collection_cost = 0.0  # seconds the last full collection took

    # -- the loop's side -----------------------------------------------------------------
    def schedule(
        self, uri: str, delay: float, *, force: bool = False, refresh: bool = False, urgent: bool = False
    ) -> concurrent.futures.Future[Analysis | None]:
        """Analyse `uri` after `delay` seconds, replacing its analysis still waiting. `force`:
        even if its text is unchanged (a file it depends on changed); `refresh`: a pulling client
        is asked to pull again."""
        fut = self._worker.submit(
            lambda: self._analyze(uri, force=force, refresh=refresh), key=("analyze", uri), delay=delay, urgent=urgent
        )
        self._pending[uri] = (fut, force, refresh)
        return fut

    def cancel(self, uri: str) -> None:
        """The document closed: its waiting analysis will not run."""
        self._worker.cancel(("analyze", uri))
        self._pending.pop(uri, None)

    def run(self, fn: Callable[[], Any]) -> None:
        """Run `fn` on the worker, after the jobs already due."""
        self._worker.submit(fn)

    def stop(self) -> None:
        """No job runs any more (`shutdown`)."""
        self._worker.stop()

    async def current_analysis(self, uri: str) -> Analysis | None:
        """The analysis of the document's current version, computing it if needed.

        A request arriving while the debounced analysis of the document is pending waits for
        it rather than starting another one: editors ask for code actions and lenses after every
        keystroke, and each extra analysis would delay the next one. That analysis runs at once,
        ahead of other documents' (a burst of edits across many files must not stand between a
        hover and its answer); it is the one the debounce would have run.
        """
        documents = self._documents
        nb_uri = documents.notebook_of(uri)
        if nb_uri is not None:  # a notebook cell: its part of the notebook's analysis
            return notebooks.view(documents.notebooks, await self.current_analysis(nb_uri), uri)
        for _ in range(5):
            if uri not in documents.snapshots:
                return None
            a = documents.analyses.get(uri)
            if a is not None and self._current(a):
                return a
            pending, force, refresh = self._pending.get(uri) or (None, False, False)
            if pending is not None and not pending.done():
                if not pending.running():  # still in its debounce or behind other documents: run it next
                    pending = self.schedule(uri, delay=0.0, force=force, refresh=refresh, urgent=True)
                await _settled(pending)
            else:  # unkeyed: a later debounced job must not cancel this one
                await _settled(self._worker.submit(lambda: self._analyze(uri)))
        # The document kept changing under us: no answer rather than one for an older version.
        a = documents.analyses.get(uri)
        return a if a is not None and documents.matches(a) else None

    def _current(self, a: Analysis) -> bool:
        return self._documents.matches(a) and a.generation == self._configuration.folder_of(a.uri).generation

    # -- the worker's side ---------------------------------------------------------------
    def _analyze(self, uri: str, *, force: bool = False, refresh: bool = False) -> Analysis | None:
        documents = self._documents
        snap = documents.snapshots.get(uri)
        if snap is None:
            return None
        folder = self._configuration.folder_of(uri)
        generation = folder.generation
        prev = documents.analyses.get(uri)
        if (
            not force
            and prev is not None
            and prev.version == snap.version
            and prev.text == snap.text
            and prev.generation == generation
        ):
            return prev
        path = fs_path(uri)
        checker = self.engines.checker(folder)
        self.engines.set_overlay(path, snap.text)  # another folder's files may import this one
        if force:
            checker.invalidate(path)
        try:
            report = checker.check_file(path, snap.text)
        except Exception as exc:  # an engine bug: say so, clear this file's diagnostics, keep serving
            log.exception("analysis of %s failed", path)
            report = FileReport(errors=[f"internal error: {type(exc).__name__}: {exc}"])
        encoding = self._encoding()
        analysis = Analysis(uri, snap.version, snap.text, report, LineIndex(snap.text, encoding), generation=generation)
        analysis.diagnostics = to_diagnostics(analysis, documents.text_of)
        if uri in documents.notebooks:
            notebooks.build_views(documents.notebooks.get(uri), analysis, encoding, documents.text_of)
        documents.analyses[uri] = analysis
        self.post(self._deliver, analysis, refresh)
        if self.collect_garbage:
            self._schedule_collection()
        # The text changed (or was opened unsaved): files whose analysis read this one may change too.
        if (prev.text != snap.text) if prev is not None else (disk_text(path) != snap.text):
            self.reanalyse_dependents(path)
        return analysis

    def forget(self, uri: str, *, dependents: bool) -> None:
        """The document closed (on the worker): its analysis goes, the engines read the file on
        disk again, and (`dependents`) the open files whose analysis read it are analysed again."""
        path = fs_path(uri)
        self._documents.analyses.pop(uri, None)
        self.engines.set_overlay(path, None)
        if dependents:
            self.reanalyse_dependents(path)

    def file_changed(self, path: str) -> None:
        """A file that is not open changed on disk (on the worker)."""
        for checker in self.engines:
            checker.invalidate(path)
        self.reanalyse_dependents(path)

    def reanalyse_dependents(self, path: str) -> None:
        for checker in self.engines:
            for dep in checker.dependents(path):
                dep_uri = from_fs_path(dep)
                if dep_uri in self._documents.snapshots:
                    checker.invalidate(dep)
                    self.schedule(dep_uri, delay=0.0, force=True, refresh=True)

    def post(self, fn: Callable[..., Any], *args: Any) -> None:
        """Call `fn(*args)` on the loop (from the worker)."""
        if self.loop is None:
            return

        def run() -> None:
            try:
                fn(*args)
            except Exception:
                log.exception("delivering a result failed")

        self.loop.call_soon_threadsafe(run)

    def _schedule_collection(self) -> None:
        """A full collection once typing pauses, and now and then while it does not. A full
        collection walks every object of the open documents (hundreds of ms with 50 open): one
        per 20 analyses was several per second during a burst of edits across many documents,
        and hovers waited behind them for seconds. Time-based, it takes a few percent at most."""
        now = time.monotonic()
        if now - self._last_collection >= max(_COLLECT_EVERY, self._collection_cost / _COLLECT_SHARE):
            self._last_collection = now
            self._worker.submit(self._collect, delay=0.05)  # after this result has gone out
        else:
            self._worker.submit(self._collect, key="collect", delay=_COLLECT_WHEN_IDLE)

    def _collect(self) -> None:
        start = time.monotonic()
        gc.collect()
        self._last_collection = time.monotonic()
        self._collection_cost = self._last_collection - start


async def _settled(fut: concurrent.futures.Future[Analysis | None]) -> Analysis | None:
    """Wait for a worker job; its result, or None when it failed or was replaced by a newer job."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[Analysis | None] = loop.create_future()

    def settle(f: concurrent.futures.Future[Analysis | None]) -> None:
        if not done.done():
            done.set_result(None if f.cancelled() or f.exception() is not None else f.result())

    fut.add_done_callback(lambda f: loop.call_soon_threadsafe(settle, f))
    return await done
