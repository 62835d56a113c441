"""LSP commands for the overfit check: `torchlint.runOverfitCheck`, `torchlint.cancelOverfitCheck`.

Wiring::

    from torchlint.lsp import overfit
    overfit.register(server, settings_getter, trusted, host)   # once, before the server starts
    ... when publishing diagnostics for `uri`: overfit.merged_diagnostics(server, uri, static)

`runtime_diagnostics(server, uri)` returns the findings of the last overfit run of that
server mapped to `uri` (`source: "torchlint-overfit"`, `code: "TLRxx"`). Because
`textDocument/publishDiagnostics` replaces everything the client holds for a URI, this module
does not publish on its own when it has a `host` (the main server): it calls
`host.republish(uri)` for every URI whose runtime diagnostics changed and the host merges
them with its static ones; the host also knows the open documents' texts and notebooks.
Without a host (the test server) the runtime diagnostics are published directly.

`runOverfitCheck` takes `[{"uri": "file:///...", "line": <0-based loop line or null>}]` or
`[uri]` and returns the report JSON (see torchlint.probe.report.Report.to_json) plus
`initial_loss`/`final_loss` (the verdict's definitions: first finite loss, median of the last
steps), `cancelled`, `interpreter` and `command`. While it runs it reports `$/progress`
("step 9/100 loss 2.295"), cancellable (`window/workDoneProgress/cancel` stops it; pygls 2.1.1
cancels the token's future, which we watch): on the client's `workDoneToken` when the request
carried one (the main server's protocol copies it into the argument as `workDoneToken`, since
pygls does not hand it to commands), else on a server-initiated token. At the end it sends
`window/showMessage` with the verdict (unless the settings say `clientOverfitUi`: the client
shows the result itself), the custom notification `torchlint/overfitResult` with the report
JSON, and the diagnostics. A cancelled run says nothing about the code: it sends no message
and keeps the previous run's diagnostics. One run per workspace folder at a time: a second request
returns an ERROR report saying a run is in progress. `cancelOverfitCheck` takes `[]`,
`[uri]` or `[{"uri": ...}]` and cancels the run(s) of that workspace (all runs without one).
`$/cancelRequest` does not stop a running command coroutine in pygls 2.1.1, hence the two
cancel paths.

`settings_getter(uri)` (or `settings_getter()`) returns a dict, the settings of the script's
workspace folder; read leniently: `interpreter`, `overfit.steps` /
`overfit_steps` / `{"overfit": {"steps"}}`, same for `timeout`.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import math
import os
import sys
import uuid
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import unquote

import attrs
from lsprotocol import types
from pygls import uris

from torchlint.probe.report import Finding, Report
from torchlint.probe.runner import Progress, run_overfit
from torchlint.probe.verdict import final_loss

from ..analysis.findings import Position, Span
from ..codes import RUNTIME_TWINS
from .convert import LineIndex

log = logging.getLogger(__name__)

RUN_COMMAND = "torchlint.runOverfitCheck"
CANCEL_COMMAND = "torchlint.cancelOverfitCheck"
RESULT_NOTIFICATION = "torchlint/overfitResult"
SOURCE = "torchlint-overfit"
PROGRESS_INTERVAL = 0.1  # seconds between $/progress reports (the last step always goes)
DEFAULT_STEPS = 100
DEFAULT_TIMEOUT = 300.0

_SEVERITY = {
    "error": types.DiagnosticSeverity.Error,
    "warning": types.DiagnosticSeverity.Warning,
    "information": types.DiagnosticSeverity.Information,
}
_MESSAGE_TYPE = {
    "PASS": types.MessageType.Info,
    "PARTIAL": types.MessageType.Warning,
    "FAIL": types.MessageType.Error,
    "ERROR": types.MessageType.Error,
}


@dataclass
class _ServerState:
    runs: dict[str, asyncio.Event] = field(default_factory=dict)  # workspace key -> cancel
    diagnostics: dict[str, list[types.Diagnostic]] = field(default_factory=dict)


_STATES: weakref.WeakKeyDictionary[Any, _ServerState] = weakref.WeakKeyDictionary()


def _state(server: Any) -> _ServerState:
    st = _STATES.get(server)
    if st is None:
        st = _STATES[server] = _ServerState()
    return st


def runtime_diagnostics(server: Any, uri: str) -> list[types.Diagnostic]:
    """Diagnostics from the last overfit run of `server` for `uri` (merge with static ones)."""
    st = _STATES.get(server)
    return list(st.diagnostics.get(uri, [])) if st else []


def merged_diagnostics(server: Any, uri: str, static: list[types.Diagnostic]) -> list[types.Diagnostic]:
    """`static` with the last run's runtime diagnostics of `uri`: a runtime finding whose static
    twin is on its line becomes related information of that diagnostic. A runtime finding that
    had a twin and lost it (the user fixed the bug) is stale evidence: it is dropped for good."""
    st = _STATES.get(server)
    runtime = st.diagnostics.get(uri, []) if st else []
    if not runtime:
        return list(static)
    out = list(static)
    rest: list[types.Diagnostic] = []
    stale = False
    for d in runtime:
        twin = RUNTIME_TWINS.get(str(d.code))
        i = next(
            (
                i
                for i, s in enumerate(out)
                if twin and s.code == twin and s.range.start.line <= d.range.start.line <= s.range.end.line
            ),
            None,
        )
        if i is not None:
            s = out[i]
            evidence = types.DiagnosticRelatedInformation(
                location=types.Location(uri=uri, range=d.range),
                message=f"confirmed by the overfit check ({d.code}): {d.message}",
            )
            out[i] = attrs.evolve(s, related_information=[*(s.related_information or []), evidence])
            d.data = {**(d.data or {}), "paired": True}
        elif isinstance(d.data, dict) and d.data.get("paired"):
            stale = True
        else:
            rest.append(d)
    if stale and st is not None:
        st.diagnostics[uri] = [
            d
            for d in runtime
            if not (isinstance(d.data, dict) and d.data.get("paired"))
            or any(
                s.code == RUNTIME_TWINS.get(str(d.code))
                and s.range.start.line <= d.range.start.line <= s.range.end.line
                for s in static
            )
        ]
    return out + rest


class Host(Protocol):
    """What the check needs from the server it is composed into."""

    def republish(self, uri: str) -> None:
        """Send `uri`'s diagnostics again, merged with the runtime ones; on the loop."""

    def notebook_cell(self, uri: str) -> tuple[str, dict[int, str]] | None:
        """For a notebook cell's URI: the notebook's URI and its code cells' URIs by number."""

    def open_text(self, uri: str) -> str | None:
        """The editor's text of `uri` when it is open."""


# ----------------------------------------------------------------------------- helpers


def _setting(settings: Any, *names: str) -> Any:
    """First present value among dotted/flat/nested spellings; None when absent."""
    if not isinstance(settings, dict):
        settings = getattr(settings, "__dict__", {}) or {}
    for name in names:
        if settings.get(name) is not None:
            return settings[name]
        head, _, tail = name.partition(".")
        if tail and isinstance(settings.get(head), dict) and settings[head].get(tail) is not None:
            return settings[head][tail]
    return None


def _number(value: Any, default: float, kind: type) -> Any:
    try:
        v = kind(value)
        return v if v > 0 else default
    except (TypeError, ValueError):
        return default


def _parse_target(args: tuple[Any, ...]) -> tuple[str | None, int | None]:
    first = _first_arg(args)
    if isinstance(first, str):
        return first, None
    if isinstance(first, dict):
        line = first.get("line")
        return first.get("uri"), line if isinstance(line, int) else None
    uri = getattr(first, "uri", None)
    return (uri, None) if isinstance(uri, str) else (None, None)


def _first_arg(args: tuple[Any, ...]) -> Any:
    if not args:
        return None
    first = args[0]
    if isinstance(first, list) and first:  # some clients nest the argument list
        first = first[0]
    return first


def _client_token(args: tuple[Any, ...]) -> str | int | None:
    """The request's `workDoneToken`, which the protocol copied into the argument."""
    first = _first_arg(args)
    token = first.get("workDoneToken") if isinstance(first, dict) else None
    return token if isinstance(token, (str, int)) and not isinstance(token, bool) else None


def _folders(server: Any) -> list[str]:
    """The workspace folders (and root), absolute with symlinks resolved."""
    try:
        folders = [uris.to_fs_path(f.uri) or "" for f in server.workspace.folders.values()]
        root = server.workspace.root_path
        if root:
            folders.append(root)
    except Exception:
        folders = []
    return sorted({os.path.realpath(f) for f in folders if f})


def _workspace_key(server: Any, path: str) -> str:
    """The workspace folder holding `path` (longest match), else its directory."""
    best = ""
    for folder in _folders(server):
        if (path == folder or path.startswith(folder + os.sep)) and len(folder) > len(best):
            best = folder
    return best or os.path.dirname(path)


def _settings_for(settings_getter: Callable[..., Any], uri: str) -> Any:
    """The settings of the workspace folder holding `uri` when the getter takes a URI (the
    server's does: settings are per folder), else the getter's one set of settings."""
    try:
        takes_uri = bool(inspect.signature(settings_getter).parameters)
    except (TypeError, ValueError):
        takes_uri = False
    return settings_getter(uri) if takes_uri else settings_getter()


def _error_report(script: str, message: str) -> dict[str, Any]:
    rep = Report(verdict="ERROR", script=script, error=message, summary=f"ERROR: {message}")
    return rep.to_json()


def _line_range(text: str | None, row: int, encoding: Any = None) -> types.Range:
    """Line `row` (1-based) from its first non-blank character to its end, in the client's
    units; without the text, the whole line (column 0 to the next line's start)."""
    line = max(row - 1, 0)
    if text is not None:
        index = LineIndex(text, encoding)
        if line < len(index.lines):
            code = index.lines[line]
            start = len(code) - len(code.lstrip())
            if start < len(code):
                return index.range(Span(Position(line, start), Position(line, len(code.rstrip()))))
    return types.Range(start=types.Position(line=line, character=0), end=types.Position(line=line + 1, character=0))


def _text_of(server: Any, host: Host | None, uri: str, path: str | None) -> str | None:
    """The editor's text of `uri` when the server holds it open, else the file on disk."""
    text = host.open_text(uri) if host is not None else None
    if text is not None:
        return text
    if host is not None and host.notebook_cell(uri) is not None:  # a notebook cell: the cell's own text
        doc = server.workspace.text_documents.get(unquote(uri))  # pygls keys documents unquoted
        return doc.source if doc is not None else None
    if not path:
        return None
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return fh.read()
    except OSError:
        return None


def _encoding(server: Any) -> Any:
    try:
        return server.workspace.position_encoding
    except Exception:
        return None


def _to_diagnostics(
    report: Report,
    script_uri: str,
    loop_line: int | None,
    text_of: Callable[[str, str | None], str | None] = lambda uri, path: None,
    encoding: Any = None,
    cells: dict[int, str] | None = None,
) -> dict[str, list[types.Diagnostic]]:
    """`cells`: for a notebook, its code cells' URIs by number (findings carry their cell)."""
    out: dict[str, list[types.Diagnostic]] = {}
    # An ERROR has no TLR code (codes are public and stable): it becomes a code-less
    # diagnostic at the user's frame of the exception, or at the loop / first line.
    findings: list[tuple[Finding, str | None]] = [(f, f.code) for f in report.findings]
    if report.verdict == "ERROR" and report.error:
        loc = report.error_location or {}
        findings.insert(
            0,
            (
                Finding(
                    "",
                    f"overfit check could not run: {report.error}",
                    loc.get("filename"),
                    loc.get("row"),
                    "error",
                    cell=loc.get("cell"),
                ),
                None,
            ),
        )
    for f, code in findings:
        if cells and f.cell in cells:
            uri, row = cells[f.cell], f.row or 1
        elif f.filename:
            uri = uris.from_fs_path(f.filename) or script_uri
            row = f.row or 1
        else:
            uri = script_uri
            row = (loop_line + 1) if loop_line is not None else 1
        out.setdefault(uri, []).append(
            types.Diagnostic(
                range=_line_range(text_of(uri, f.filename or uris.to_fs_path(uri)), row, encoding),
                message=f.message,
                severity=_SEVERITY.get(f.severity, types.DiagnosticSeverity.Warning),
                code=code,
                source=SOURCE,
            )
        )
    return out


def _publish(server: Any, host: Host | None, uri: str) -> None:
    if host is not None:
        host.republish(uri)
        return
    server.text_document_publish_diagnostics(
        types.PublishDiagnosticsParams(uri=uri, diagnostics=runtime_diagnostics(server, uri))
    )


def _supports_progress(server: Any) -> bool:
    try:
        caps = server.client_capabilities
        return bool(caps and caps.window and caps.window.work_done_progress)
    except Exception:
        return False


class _ProgressSink:
    """Forwards runner progress to $/progress, at most every PROGRESS_INTERVAL, always the
    latest step (the child sends steps in bursts)."""

    def __init__(self, server: Any, token: str | int | None) -> None:
        self.server = server
        self.token = token
        self.latest: Progress | None = None
        self.handle: asyncio.TimerHandle | None = None

    def __call__(self, p: Progress) -> None:
        if self.token is None:
            return
        self.latest = p
        if p.step == p.total:
            self.flush()
        elif self.handle is None:
            self.handle = asyncio.get_running_loop().call_later(PROGRESS_INTERVAL, self.flush)

    def flush(self) -> None:
        if self.handle is not None:
            self.handle.cancel()
            self.handle = None
        p, self.latest = self.latest, None
        if p is None or self.token is None:
            return
        pct = int(100 * p.step / p.total) if p.total else None
        self.server.work_done_progress.report(
            self.token, types.WorkDoneProgressReport(message=p.message, percentage=pct, cancellable=True)
        )

    def close(self) -> None:
        if self.handle is not None:
            self.handle.cancel()
            self.handle = None
        self.token = None


# ----------------------------------------------------------------------------- commands


def register(
    server: Any,
    settings_getter: Callable[..., Any],
    trusted: Callable[[], bool] = lambda: True,
    host: Host | None = None,
) -> None:
    """Register the overfit commands on a pygls 2 `LanguageServer`. `trusted()` says whether the
    client trusts the workspace (VS Code's Restricted Mode sends `workspaceTrusted: false`);
    `host`: the server the check is composed into (see the module's docstring)."""

    @server.command(RUN_COMMAND)
    async def run_overfit_check(ls: Any, *args: Any) -> dict[str, Any]:
        return await _run(ls, settings_getter, args, trusted, host)

    @server.command(CANCEL_COMMAND)
    def cancel_overfit_check(ls: Any, *args: Any) -> dict[str, Any]:
        st = _state(ls)
        uri, _ = _parse_target(args)
        keys = list(st.runs)
        if uri:
            path = uris.to_fs_path(uri) or uri
            key = _workspace_key(ls, os.path.realpath(path))
            keys = [k for k in keys if k == key]
        for k in keys:
            st.runs[k].set()
        return {"cancelled": len(keys)}


def _refusal(ls: Any, path: str, trusted: Callable[[], bool]) -> str | None:
    """Why the overfit check must not run `path`, or None. The check executes the user's
    script: only on explicit request, in a trusted workspace, for a file of its folders."""
    if not trusted():
        return (
            "the overfit check runs your training script, and this workspace is not trusted "
            "(Restricted Mode); trust the workspace to enable it"
        )
    folders = _folders(ls)
    if not any(path == f or path.startswith(f.rstrip(os.sep) + os.sep) for f in folders):
        where = ", ".join(folders) if folders else "none are open"
        return (
            f"the overfit check runs only scripts inside the workspace folders ({where}); "
            f"{path} is outside them: open its folder as a workspace"
        )
    return None


async def _run(
    ls: Any, settings_getter: Callable[..., Any], args: tuple[Any, ...], trusted: Callable[[], bool], host: Host | None
) -> dict[str, Any]:
    uri, loop_line = _parse_target(args)
    if not uri:
        return _error_report("", "runOverfitCheck needs a document URI argument")
    notebook = host.notebook_cell(uri) if host is not None else None
    cells: dict[int, str] = {}
    if notebook is not None:  # a notebook's cell: the check runs the whole notebook
        uri, cells = notebook
        loop_line = None
    if not uri.startswith("file:") and "://" in uri:
        return _error_report(uri, f"the overfit check runs files on disk, not {uri.split(':', 1)[0]}: documents")
    path = os.path.abspath(uris.to_fs_path(uri) or uri)
    refusal = _refusal(ls, os.path.realpath(path), trusted)
    if refusal is not None:
        ls.window_show_message(types.ShowMessageParams(type=types.MessageType.Warning, message=f"torchlint: {refusal}"))
        data = _error_report(path, refusal)
        data["refused"] = True
        return data
    st = _state(ls)
    key = _workspace_key(ls, os.path.realpath(path))
    if key in st.runs:
        msg = "an overfit check is already running for this workspace; cancel it first"
        ls.window_show_message(types.ShowMessageParams(type=types.MessageType.Warning, message=f"torchlint: {msg}"))
        data = _error_report(path, msg)
        data["busy"] = True
        return data
    try:
        settings = _settings_for(settings_getter, uri) or {}
    except Exception:
        log.exception("overfit settings")
        settings = {}
    python = _setting(settings, "interpreter", "python")
    if isinstance(python, list):  # VS Code's python.interpreterPath style: [exe, *args]
        python = python[0] if python else None
    steps = _number(_setting(settings, "overfit.steps", "overfit_steps", "overfitSteps"), DEFAULT_STEPS, int)
    timeout = _number(
        _setting(settings, "overfit.timeout", "overfit_timeout", "overfitTimeout"), DEFAULT_TIMEOUT, float
    )

    client_ui = bool(_setting(settings, "clientOverfitUi"))

    cancel = asyncio.Event()
    st.runs[key] = cancel
    loop = asyncio.get_running_loop()
    token: str | int | None = _client_token(args)
    sink = _ProgressSink(ls, None)
    try:
        if token is not None or _supports_progress(ls):
            try:
                if token is None:  # no client token: create one (the client shows it)
                    token = f"torchlint-overfit-{uuid.uuid4()}"
                    await ls.work_done_progress.create_async(token)
                ls.work_done_progress.begin(
                    token,
                    types.WorkDoneProgressBegin(
                        title="torchlint: overfit check",
                        message=f"starting {os.path.basename(path)}",
                        percentage=0,
                        cancellable=True,
                    ),
                )
                sink.token = token
                fut = ls.work_done_progress.tokens.get(token)
                if fut is not None:  # pygls cancels this future on window/workDoneProgress/cancel
                    fut.add_done_callback(lambda f: f.cancelled() and loop.call_soon_threadsafe(cancel.set))
            except Exception:
                log.exception("work done progress")
                token = None
        if not os.path.isfile(path):
            report = Report(
                verdict="ERROR", script=path, error=f"not a file: {path}", summary=f"ERROR: not a file: {path}"
            )
        else:
            report = await run_overfit(
                path,
                [],
                python=python,
                steps=steps,
                timeout=timeout,
                cwd=key if os.path.isdir(key) else None,
                on_progress=sink,
                cancel=cancel,
            )
    finally:
        sink.close()
        st.runs.pop(key, None)
        if token is not None:
            try:
                ls.work_done_progress.end(token, types.WorkDoneProgressEnd(message="done"))
            except Exception:
                log.exception("work done progress end")
            ls.work_done_progress.tokens.pop(token, None)

    cancelled = cancel.is_set()
    data = report_json(report, cancelled=cancelled, python=python, steps=steps)
    if not cancelled and not client_ui:
        ls.window_show_message(
            types.ShowMessageParams(
                type=types.MessageType.Warning
                if report.verdict == "PASS" and any(f.severity == "error" for f in report.findings)
                else _MESSAGE_TYPE.get(report.verdict, types.MessageType.Info),
                message=f"torchlint overfit check ({os.path.basename(path)}): {report.summary or report.verdict}",
            )
        )
    ls.protocol.notify(RESULT_NOTIFICATION, {**data, "uri": uri})
    if cancelled:  # says nothing about the code: the previous run's diagnostics stay
        return data
    new = _to_diagnostics(
        report, uris.from_fs_path(path) or uri, loop_line, lambda u, p: _text_of(ls, host, u, p), _encoding(ls), cells
    )
    changed = set(st.diagnostics) | set(new)
    st.diagnostics = new
    for u in sorted(changed):
        try:
            _publish(ls, host, u)
        except Exception:
            log.exception("publishing overfit diagnostics for %s", u)
    return data


def report_json(
    report: Report, *, cancelled: bool = False, python: str | None = None, steps: int | None = None
) -> dict[str, Any]:
    """The report's JSON plus what editors show: the losses the verdict compared (one
    definition everywhere: the first finite loss, the median of the last steps), whether the
    user cancelled, and how the run was started (for the client's log)."""
    data = report.to_json()
    values = [x for x in report.losses if x is not None]
    data["initial_loss"] = _finite(values[0]) if values else None
    data["final_loss"] = _finite(final_loss(report.losses)) if values else None
    data["cancelled"] = cancelled
    data["interpreter"] = python or sys.executable
    data["command"] = [
        python or sys.executable,
        "-m",
        "torchlint",
        "overfit",
        report.script,
        *(["--steps", str(steps)] if steps else []),
    ]
    return data


def _finite(x: float | None) -> float | str | None:
    return x if x is None or math.isfinite(x) else str(x)


def on_change(server: Any, uri: str, changes: Sequence[Any]) -> bool:
    """The editor changed `uri`: runtime diagnostics on the changed lines are dropped (they
    describe code that is no longer there) and the ones below move with their lines. True
    when something changed (the caller republishes)."""
    st = _STATES.get(server)
    if st is None or not st.diagnostics.get(uri):
        return False
    diags = st.diagnostics[uri]
    for change in changes:
        rng = getattr(change, "range", None)
        if rng is None:  # the whole text was replaced
            diags = []
            break
        first, last = rng.start.line, rng.end.line
        delta = change.text.count("\n") + change.text.count("\r") - change.text.count("\r\n") - (last - first)
        moves = last + 1  # first line that only moves
        if (
            rng.start.character == 0
            and rng.end.character == 0
            and (change.text == "" or change.text.endswith(("\n", "\r")))
        ):
            moves = last  # whole lines replaced or inserted above `last`, whose text stays as it was
            last -= 1
        kept = []
        for d in diags:
            line = d.range.start.line
            if first <= line <= last:
                continue
            if line >= moves and delta:
                d = types.Diagnostic(
                    range=types.Range(
                        start=types.Position(line=line + delta, character=d.range.start.character),
                        end=types.Position(line=d.range.end.line + delta, character=d.range.end.character),
                    ),
                    message=d.message,
                    severity=d.severity,
                    code=d.code,
                    source=d.source,
                    related_information=d.related_information,
                    data=d.data,
                )
            kept.append(d)
        diags = kept
    if diags == st.diagnostics[uri]:
        return False
    st.diagnostics[uri] = diags
    return True
