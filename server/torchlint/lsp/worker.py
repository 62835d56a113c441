"""The one analysis thread.

Jedi is not thread-safe and pygls reads stdin on its shared thread pool, so all
analysis runs here, never on the event loop or that pool. Jobs are keyed: a new
job under the same key (one document's debounced re-analysis) replaces the one
still waiting, so rapid edits cost one analysis. Any exception a job raises is
logged and the thread lives on.
"""

from __future__ import annotations

import concurrent.futures
import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable, Hashable
from typing import Any

log = logging.getLogger("torchlint.lsp")


class Worker:
    def __init__(self, name: str = "torchlint-analysis", on_error: Callable[[str], None] | None = None):
        self._cv = threading.Condition()
        self._keyed: dict[Hashable, tuple[float, int]] = {}  # key -> (due, seq) of its live entry
        self._heap: list[tuple[float, int, Hashable | None, Callable[[], Any], concurrent.futures.Future]] = []
        self._seq = itertools.count()
        self._stopped = False
        self._on_error = on_error
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(
        self, fn: Callable[[], Any], *, key: Hashable | None = None, delay: float = 0.0, urgent: bool = False
    ) -> concurrent.futures.Future:
        """Run `fn` on the worker after `delay` seconds; a later job with the same key replaces it.
        `urgent`: ahead of every job not yet started (a request waits for it)."""
        fut: concurrent.futures.Future = concurrent.futures.Future()
        with self._cv:
            if self._stopped:
                fut.cancel()
                return fut
            due, seq = 0.0 if urgent else time.monotonic() + max(delay, 0.0), next(self._seq)
            if key is not None:
                self._keyed[key] = (due, seq)
            heapq.heappush(self._heap, (due, seq, key, fn, fut))
            self._cv.notify()
        return fut

    def cancel(self, key: Hashable) -> None:
        with self._cv:
            self._keyed.pop(key, None)

    def on_thread(self) -> bool:
        return threading.current_thread() is self._thread

    def stop(self) -> None:
        with self._cv:
            self._stopped = True
            for *_, fut in self._heap:
                fut.cancel()
            self._heap.clear()
            self._keyed.clear()
            self._cv.notify()

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    def _next(self):
        with self._cv:
            while True:
                if self._stopped:
                    return None
                if not self._heap:
                    self._cv.wait()
                    continue
                due, seq, key, fn, fut = self._heap[0]
                if key is not None and self._keyed.get(key) != (due, seq):
                    heapq.heappop(self._heap)  # replaced by a newer job with the same key
                    fut.cancel()
                    continue
                now = time.monotonic()
                if due > now:
                    self._cv.wait(due - now)
                    continue
                heapq.heappop(self._heap)
                if key is not None:
                    del self._keyed[key]
                return fn, fut

    def _run(self) -> None:
        while True:
            job = self._next()
            if job is None:
                return
            fn, fut = job
            if not fut.set_running_or_notify_cancel():
                continue
            try:
                fut.set_result(fn())
            except BaseException as exc:
                log.exception("analysis job failed")
                if self._on_error is not None:
                    try:
                        self._on_error(f"torchlint: internal error: {type(exc).__name__}: {exc}")
                    except Exception:
                        log.exception("error reporter failed")
                fut.set_exception(exc)
