"""How the child talks to the parent: JSON lines on the inherited pipe, and findings sent once."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Hashable
from typing import Any

from .state import Run, Site


class Channel:
    """JSON lines to the parent. Step messages are batched (at most every FLUSH_SECONDS): a
    write per step wakes the reader every step, and on a busy machine each wake-up costs the
    training process milliseconds of scheduling delay (measured: 2 ms -> 8 ms per step)."""

    FLUSH_SECONDS = 0.2

    def __init__(self, fd: int | None) -> None:
        self.fd = fd
        self.buffer: list[bytes] = []
        self.last_flush = 0.0

    def send(self, obj: dict[str, Any], batch: bool = False) -> None:
        if self.fd is None:
            return
        self.buffer.append((json.dumps(obj, default=str) + "\n").encode())
        now = time.perf_counter()
        if not batch or now - self.last_flush >= self.FLUSH_SECONDS:
            self.flush()
            self.last_flush = now

    def flush(self) -> None:
        data = b"".join(self.buffer)
        self.buffer = []
        try:
            while data and self.fd is not None:
                n = os.write(self.fd, data)
                data = data[n:]
        except OSError:
            self.fd = None  # parent went away; keep the script alive, it will be killed

    def warn(self, message: str) -> None:
        """Trouble in the instrumentation itself: shown in the report's notes."""
        self.send({"type": "warning", "message": message})


class Findings:
    """Runtime findings (TLRxx), each sent once per code and key (or site). Gradient-health
    findings (TLR09) wait for the end of the run: after an Inf/NaN they are only noise."""

    def __init__(self, channel: Channel, run: Run) -> None:
        self.channel = channel
        self.run = run
        self.reported: set[tuple[str, Hashable]] = set()
        self.deferred: list[tuple[str, str, Site | None, str, Hashable]] = []

    def report(self, code: str, message: str, site: Site | None, severity: str, key: Hashable = None) -> None:
        dedupe = (code, key if key is not None else site)
        if dedupe in self.reported:
            return
        self.reported.add(dedupe)
        self.channel.send(
            {
                "type": "finding",
                "code": code,
                "message": message,
                "severity": severity,
                "filename": site[0] if site else None,
                "row": site[1] if site else None,
                # after the run (TLR03/04/05/10) the last step, not the one that never ran
                "step": self.run.step if self.run.finalized else self.run.step + 1,
            }
        )

    def defer(self, code: str, message: str, site: Site | None, severity: str, key: Hashable = None) -> None:
        self.deferred.append((code, message, site, severity, key))

    def release_deferred(self) -> None:
        if not self.run.nonfinite:
            for finding in self.deferred:
                self.report(*finding)
