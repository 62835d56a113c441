"""Parent side of the overfit check: start the instrumented child, stream, judge, clean up.

The child runs in the user's interpreter (``python``), in its own session (process group) so
that a timeout or a cancel can kill the whole tree (DataLoader workers, subprocesses) with one
``os.killpg``. It talks to us over an inherited pipe (``TORCHLINT_PROBE_FD``), one JSON object
per line; its stdout/stderr are only captured for the tail shown on ERROR. This module never
imports torch. POSIX only (``pass_fds``, process groups).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import os
import signal
import statistics
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import notebook
from .report import Finding, Report, write_svg
from .verdict import Judgement, initial_loss_finding, judge, smoothing_floor

INSTRUMENT = Path(__file__).with_name("instrument")  # the child's package (a directory)
OUTPUT_TAIL_BYTES = 16384
KILL_GRACE_SECONDS = 3.0  # SIGTERM lets the child report its findings; a long C++ op delays the handler

# Loads the instrument package by path under a private name, then hands over the script's
# argv. A package, not a directory put on sys.path: its modules import each other relatively,
# so they come from that directory under the private name (importable, never __main__), need
# no torchlint install in the user's interpreter, and cannot clash with the user's modules
# (a `checks.py` next to the script) or change how the script's own imports resolve.
LOAD_INSTRUMENT = (
    "import importlib.util as u, os, sys\n"
    "d = sys.argv[1]\n"
    "s = u.spec_from_file_location('_torchlint_probe_instrument', os.path.join(d, '__init__.py'),"
    " submodule_search_locations=[d])\n"
    "m = u.module_from_spec(s); sys.modules[s.name] = m; s.loader.exec_module(m)\n"
)
BOOTSTRAP = LOAD_INSTRUMENT + "m.main(sys.argv[2:])\n"


@dataclass
class Progress:
    step: int
    total: int
    loss: float | None
    message: str


class _Run:
    """Everything the child told us, plus its output tail."""

    def __init__(self, total: int, on_progress: Callable[[Progress], None] | None) -> None:
        self.total = total
        self.on_progress = on_progress
        self.losses: list[float | None] = []
        self.findings: list[Finding] = []
        self.end: dict[str, Any] | None = None
        self.hello: dict[str, Any] | None = None
        self.warnings: list[str] = []
        self.lrs: list[float | None] = []
        self.curves: dict[int, dict[str, Any]] = {}  # optimizer index -> {"name", "losses", "lrs"}
        self.runtime_warnings: list[dict[str, Any]] = []
        self.frozen_params: dict[str, Any] | None = None
        self.output: deque[bytes] = deque()
        self.output_size = 0

    def add_output(self, chunk: bytes) -> None:
        self.output.append(chunk)
        self.output_size += len(chunk)
        while self.output_size > OUTPUT_TAIL_BYTES and len(self.output) > 1:
            self.output_size -= len(self.output.popleft())

    def output_tail(self) -> str:
        return b"".join(self.output)[-OUTPUT_TAIL_BYTES:].decode("utf-8", "replace")

    def handle(self, msg: dict[str, Any]) -> None:
        kind = msg.get("type")
        if kind == "step":
            loss = msg.get("loss")
            self.losses.append(float(loss) if loss is not None else None)
            self.lrs.append(msg.get("lr"))
            self._progress(msg["step"], self.losses[-1])
        elif kind == "curve":
            curve = self.curves.setdefault(int(msg["opt"]), {"name": msg.get("name"), "losses": []})
            loss = msg.get("loss")
            curve["losses"].append(float(loss) if loss is not None else None)
        elif kind == "runtime_warning":
            self.runtime_warnings.append({k: msg.get(k) for k in ("message", "category", "filename", "row", "step")})
        elif kind == "frozen_params":
            self.frozen_params = msg
        elif kind == "finding":
            self.findings.append(
                Finding(
                    msg["code"],
                    msg["message"],
                    msg.get("filename"),
                    msg.get("row"),
                    msg.get("severity", "warning"),
                    msg.get("step"),
                )
            )
        elif kind == "end":
            self.end = msg
        elif kind == "hello":
            self.hello = msg
            self._progress(0, None, f"script started (pid {msg.get('pid')})")
        elif kind == "loader":
            self._progress(0, None, "first batch cached")
        elif kind == "warning":
            self.warnings.append(str(msg.get("message")))

    def _progress(self, step: int, loss: float | None, message: str | None = None) -> None:
        if self.on_progress is None:
            return
        if message is None:
            message = f"step {step}/{self.total}" + (f" loss {loss:.4g}" if loss is not None else "")
        try:
            self.on_progress(Progress(step, self.total, loss, message))
        except Exception:  # a broken progress sink must not break the run
            pass


async def _read_channel(fd: int, run: _Run) -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=1 << 24)
    pipe = os.fdopen(fd, "rb", buffering=0)
    transport, _ = await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), pipe)
    try:
        while True:
            line = await reader.readline()
            if not line:
                break
            try:
                run.handle(json.loads(line))
            except (ValueError, KeyError, TypeError):
                run.warnings.append(f"bad probe message: {line[:200]!r}")
    finally:
        transport.close()


async def _read_output(stream: asyncio.StreamReader, run: _Run) -> None:
    while True:
        chunk = await stream.read(65536)
        if not chunk:
            break
        run.add_output(chunk)


def _killpg(pgid: int, sig: int) -> bool:
    try:
        os.killpg(pgid, sig)
        return True
    except (ProcessLookupError, PermissionError):
        return False


async def _stop_group(proc: asyncio.subprocess.Process, pgid: int) -> None:
    """SIGTERM the group, give it a moment, then SIGKILL whatever is left of it."""
    if proc.returncode is None and _killpg(pgid, signal.SIGTERM):
        try:
            await asyncio.wait_for(proc.wait(), KILL_GRACE_SECONDS)
        except TimeoutError:
            pass
    _killpg(pgid, signal.SIGKILL)
    if proc.returncode is None:
        await proc.wait()


async def run_overfit(
    script: str | Path,
    args: Sequence[str] = (),
    *,
    python: str | None = None,
    steps: int = 100,
    timeout: float = 300.0,
    cwd: str | Path | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    cancel: asyncio.Event | None = None,
    plot_path: str | Path | None = None,
    env: dict[str, str] | None = None,
) -> Report:
    """Run `script` with one repeated batch for `steps` optimizer steps and judge the curve.

    `plot_path`: where to write the SVG loss plot; None -> a file in the temp dir, "" -> none.
    `env`: extra environment variables for the script (over this process's environment).
    """
    script_path = Path(script).resolve()
    report = Report(verdict="ERROR", script=str(script_path), args=list(args), steps_requested=steps)
    if not script_path.is_file():
        report.error = f"script not found: {script_path}"
        report.summary = report.error
        return report
    if script_path.suffix == ".ipynb":  # its code cells, in order, as a script (probe/notebook.py)
        try:
            nb = notebook.prepare(script_path)
        except notebook.NotebookNotRunnable as exc:
            report.error = report.summary = str(exc)
            return report
        # Jupyter runs a notebook from its folder, with that folder importable
        env = {
            **(env or {}),
            "PYTHONPATH": os.pathsep.join(p for p in (str(script_path.parent), os.environ.get("PYTHONPATH")) if p),
        }
        try:
            report = await run_overfit(
                nb.script,
                args,
                python=python,
                steps=steps,
                timeout=timeout,
                cwd=cwd or script_path.parent,
                on_progress=on_progress,
                cancel=cancel,
                plot_path=plot_path,
                env=env,
            )
        finally:
            nb.cleanup()
        notebook.map_report(report, nb)
        return report
    run = _Run(steps, on_progress)
    started = time.monotonic()

    env = {**os.environ, **(env or {})}
    read_fd, write_fd = os.pipe()
    env["TORCHLINT_PROBE_FD"] = str(write_fd)
    env["TORCHLINT_PROBE_STEPS"] = str(steps)
    env.setdefault("PYTHONUNBUFFERED", "1")  # keep the output tail current on a crash
    try:
        proc = await asyncio.create_subprocess_exec(
            python or sys.executable,
            "-c",
            BOOTSTRAP,
            str(INSTRUMENT),
            str(script_path),
            *args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            cwd=str(cwd) if cwd else None,
            env=env,
            pass_fds=(write_fd,),
            start_new_session=True,
        )
    except OSError as exc:
        os.close(read_fd)
        os.close(write_fd)
        report.error = f"cannot start {python or sys.executable}: {exc}"
        report.summary = report.error
        return report
    os.close(write_fd)
    report.pid = proc.pid
    pgid = proc.pid  # start_new_session: the child leads its own group
    channel = asyncio.ensure_future(_read_channel(read_fd, run))
    assert proc.stdout is not None
    output = asyncio.ensure_future(_read_output(proc.stdout, run))
    waiter = asyncio.ensure_future(proc.wait())
    cancel_wait = asyncio.ensure_future(cancel.wait()) if cancel is not None else None
    stopped: str | None = None
    try:
        pending = {waiter} | ({cancel_wait} if cancel_wait else set())
        done, _ = await asyncio.wait(pending, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        if waiter not in done:
            stopped = "cancelled" if cancel_wait is not None and cancel_wait in done else "timeout"
            await _stop_group(proc, pgid)
        # The child has exited; its DataLoader workers or subprocesses may still hold the
        # channel open: sweep the group, then drain what was written.
        _killpg(pgid, signal.SIGKILL)
        try:
            await asyncio.wait_for(asyncio.gather(channel, output), 5.0)
        except TimeoutError:
            run.warnings.append("probe channel did not close")
    except BaseException:
        # Our caller was cancelled (LSP shutdown, Ctrl-C): never leave the tree behind.
        _killpg(pgid, signal.SIGKILL)
        raise
    finally:
        for task in (channel, output, waiter, cancel_wait):
            if task is not None and not task.done():
                task.cancel()
    report.duration_seconds = round(time.monotonic() - started, 3)
    _fill(report, run, proc.returncode, stopped, timeout)
    if plot_path != "" and report.losses:
        target = plot_path or os.path.join(
            tempfile.gettempdir(), f"torchlint-overfit-{script_path.stem}-{proc.pid}.svg"
        )
        try:
            report.plot = write_svg(report, str(target))
        except OSError as exc:
            report.notes.append(f"could not write the plot: {exc}")
    return report


def _fill(report: Report, run: _Run, returncode: int | None, stopped: str | None, timeout: float) -> None:
    end = run.end or {}
    report.losses = run.losses
    report.lrs = run.lrs
    report.steps = len(run.losses)
    report.findings = list(run.findings)
    report.output_tail = run.output_tail()
    report.device = end.get("device")
    report.peak_memory_bytes = end.get("peak_memory_bytes")
    report.torch_version = end.get("torch") or (run.hello or {}).get("torch")
    report.frozen_batch = end.get("frozen_batch")
    report.runtime_warnings = run.runtime_warnings
    times = end.get("step_times") or []
    if len(times) >= 3:
        report.seconds_per_step = statistics.median(b - a for a, b in itertools.pairwise(times))
    elif len(times) == 2:
        report.seconds_per_step = times[1] - times[0]
    report.notes.extend(run.warnings[:5])
    backward_site = end.get("backward_site")
    _fill_curves(report, run, end)
    _name_optimizers(report, end)
    frozen_batch = report.frozen_batch or {}
    if frozen_batch.get("how") == "replay":
        calls = "; ".join(frozen_batch.get("calls") or [])
        report.notes.append(
            f"no DataLoader: the batch was frozen by replaying the first data each training call received ({calls})"
        )

    error = _error_cause(report, run, end, returncode, stopped, timeout)
    if error is not None and not _judge_partial_run(report, stopped):
        report.verdict = "ERROR"
        report.error = error
        report.summary = f"ERROR: {error}"
        return

    class_loss = end.get("class_loss") or {}
    floor, floor_reason = 0.0, ""
    if class_loss.get("label_smoothing") and end.get("first_loss_sources") == [class_loss.get("loss")]:
        floor = smoothing_floor(int(class_loss.get("classes") or 0), float(class_loss["label_smoothing"]))
        floor_reason = f"label_smoothing={class_loss['label_smoothing']:g} over {class_loss.get('classes')} classes"
        report.loss_floor = floor
    judgement = judge(report.losses, floor, floor_reason)
    if report.adversarial:
        judgement = _judge_adversarial(report)
    report.verdict = judgement.verdict
    report.summary = f"{judgement.verdict}: {judgement.reason}"
    if report.partial_run:
        report.summary += f" (partial: {error})"
        report.notes.append(f"{error}: the verdict is from the {report.steps} steps done")
    if end.get("reason") in ("finished", "exit") and report.steps < report.steps_requested:
        report.notes.append(f"the script ended after {report.steps} of {report.steps_requested} steps")
    base_lr = next((o.get("base_lr") for o in end.get("optimizers") or [] if o.get("index") == 0), None)
    lr_note = _lr_note(report.lrs, base_lr)
    if lr_note:
        report.notes.append(lr_note)
    filename, row = backward_site or (None, None)
    if judgement.verdict in ("FAIL", "PARTIAL") and not report.adversarial:
        reason = judgement.reason
        if lr_note and "near zero" in lr_note:
            reason += f"; {lr_note}"
        report.findings.insert(
            0,
            Finding(
                "TLR01",
                f"the loss on one repeated batch did not approach zero: {reason}",
                filename,
                row,
                "error" if judgement.verdict == "FAIL" else "warning",
            ),
        )
    if judgement.verdict != "PASS":
        report.findings.extend(_warning_causes(report.runtime_warnings))
        report.findings.extend(_frozen_findings(run.frozen_params))
    else:
        # a memorised model may well have silent units; not worth a warning after a PASS
        report.findings = [f for f in report.findings if not (f.code == "TLR09" and "dead ReLU" in f.message)]
    message = initial_loss_finding(judgement.initial, end.get("class_loss"), end.get("first_loss_sources"))
    if message:
        site = (end.get("class_loss") or {}).get("site") or backward_site or (None, None)
        report.findings.append(Finding("TLR08", message, site[0], site[1], "warning", 1))
    bugs = sorted({f.code for f in report.findings if f.severity == "error"})
    if judgement.verdict == "PASS" and bugs:
        # one batch can be memorised in spite of a bug (a layer never trained, gradients piling
        # up); the bug still hurts training on real data
        report.summary += f", but {' and '.join(bugs)} found a bug that the memorised batch hides"


PARTIAL_RUN_MIN_STEPS = 10


def _judge_partial_run(report: Report, stopped: str | None) -> bool:
    """A timeout after a curve that already passed (or learns) still gets a verdict, marked
    partial; too short a curve, or one that does not fall, stays ERROR: more steps could change it."""
    if stopped != "timeout" or report.steps < PARTIAL_RUN_MIN_STEPS:
        return False
    if judge(report.losses).verdict == "FAIL":
        return False
    report.partial_run = True
    return True


def _fill_curves(report: Report, run: _Run, end: dict[str, Any]) -> None:
    """One curve per optimizer that had a loss of its own; adversarial when one player's loss
    passes through another player's parameters (a GAN's generator loss through D)."""
    opts = {o["index"]: o for o in end.get("optimizers") or []}
    curves: list[tuple[int, dict[str, Any]]] = [(0, {"name": (opts.get(0) or {}).get("name"), "losses": run.losses})]
    curves += sorted(run.curves.items())
    curves = [(i, c) for i, c in curves if any(x is not None for x in c["losses"])]
    if len(curves) < 2:
        return
    for i, c in curves:
        site = (opts.get(i) or {}).get("site")
        label = _optimizer_name(site) or c.get("name") or f"optimizer {i + 1}"
        report.curves.append(
            {
                "optimizer": label,
                "index": i,
                "losses": c["losses"],
                "filename": site[0] if site else None,
                "row": site[1] if site else None,
            }
        )
    with_loss = {i for i, _ in curves}
    report.adversarial = any(set(o.get("reaches") or ()) & (with_loss - {i}) for i, o in opts.items() if i in with_loss)


def _name_optimizers(report: Report, end: dict[str, Any]) -> None:
    """Findings say `opt_d`, as the curves do, where the child could only say `Adam #1`."""
    for o in end.get("optimizers") or []:
        name = _optimizer_name(o.get("site"))
        if name and o.get("name") is not None and o.get("index") is not None:
            child = f"{o['name']} #{int(o['index']) + 1}"
            for f in report.findings:
                f.message = f.message.replace(child, name)


def _optimizer_name(site: list[Any] | None) -> str | None:
    """`opt_d` from the line `opt_d = torch.optim.Adam(...)` that built the optimizer."""
    if not site:
        return None
    try:
        with open(site[0], encoding="utf-8") as fh:
            line = fh.read().splitlines()[int(site[1]) - 1]
    except (OSError, IndexError, ValueError):
        return None
    left, eq, _ = line.partition("=")
    name = left.strip()
    return name if eq and name.replace(".", "").replace("_", "").isalnum() else None


def _judge_adversarial(report: Report) -> Judgement:
    """Players of a min-max game do not drive their losses to zero: judged on every curve
    being finite and moving, with each player's parameters updated (TLR03/04/05 otherwise)."""
    parts = []
    for c in report.curves:
        j = judge(c["losses"])
        if j.initial is not None and j.final is not None and math.isfinite(j.final):
            parts.append(f"{c['optimizer']} {j.initial:.3g} -> {j.final:.3g}")
        if j.verdict == "FAIL" and j.drop is None:  # NaN/Inf or no value
            return Judgement("FAIL", j.initial, j.final, None, f"adversarial training: {c['optimizer']}'s {j.reason}")
    broken = sorted({f.code for f in report.findings if f.code in ("TLR02", "TLR03", "TLR04", "TLR05", "TLR07")})
    curves = ", ".join(parts)
    if broken:
        return Judgement(
            "FAIL",
            None,
            None,
            None,
            f"adversarial training ({curves}): {', '.join(broken)} found; a player does not train",
        )
    return Judgement(
        "PASS",
        None,
        None,
        None,
        f"adversarial training ({curves}): one player's loss passes through the other's "
        "parameters, so no loss is expected to reach zero; every loss stayed finite and "
        "every player was updated (not judged by the drop)",
    )


def _lr_note(lrs: list[float | None], base_lr: float | None = None) -> str | None:
    """The learning rate over the run: warmup or a schedule that keeps it near zero is often
    why a healthy model only reaches PARTIAL. `base_lr`: the lr the optimizer was built with
    (a warmup longer than the check never reaches it)."""
    values = [x for x in lrs if x is not None and math.isfinite(x)]
    if len(values) < 2:
        return None
    top = max(values)
    if base_lr and base_lr > 0 and top <= LR_LOW * base_lr:
        return (
            f"lr {values[0]:.3g} -> {values[-1]:.3g}: near zero for all {len(values)} steps, at most "
            f"{top / base_lr:.0%} of the lr the optimizer was built with ({base_lr:.3g}); a warmup "
            "longer than the check? (more --steps, or a shorter warmup)"
        )
    if top <= 0:
        return f"lr was 0 at every step ({len(values)} steps)"
    low = [i for i, x in enumerate(lrs) if x is not None and x <= LR_NEAR_ZERO * top]
    if min(values) == top:
        return None
    text = f"lr {values[0]:.3g} -> {values[-1]:.3g} (max {top:.3g})"
    if len(low) >= max(2, len(values) // 10):
        text += (
            f"; near zero (<= {LR_NEAR_ZERO:.0%} of its max) for {len(low)} of {len(values)} "
            f"steps (steps {low[0] + 1}-{low[-1] + 1}: warmup or schedule)"
        )
    return text


LR_NEAR_ZERO = 0.01
LR_LOW = 0.1  # the whole run below 10 % of the built lr: still warming up
_CAUSES = (
    (
        "target size",
        (
            "PyTorch broadcast the target against the output (shapes differ): every "
            "output is compared with every target, so the loss cannot reach zero"
        ),
    ),
    ("lr_scheduler.step()", "the learning-rate scheduler steps before the optimizer"),
)


def _warning_causes(warnings: list[dict[str, Any]]) -> list[Finding]:
    """Warnings PyTorch printed during the run that explain a verdict, at the user's line."""
    out = []
    for w in warnings:
        text = str(w.get("message") or "")
        for needle, why in _CAUSES:
            if needle in text:
                first = text.split(". ")[0].strip().rstrip(".")
                out.append(
                    Finding(
                        "TLR01",
                        f"{why} (PyTorch warned: {first})",
                        w.get("filename"),
                        w.get("row"),
                        "error",
                        w.get("step"),
                    )
                )
                break
    return out


def _frozen_findings(frozen: dict[str, Any] | None) -> list[Finding]:
    """Partial freezing (often on purpose) is named only when the verdict is not PASS."""
    out = []
    for m in (frozen or {}).get("modules") or []:
        what = f"{m['modules']} {m['module']} layers are" if m.get("modules", 1) > 1 else f"{m['module']} is"
        if m.get("only"):  # some of its tensors: `head.weight` frozen while its bias trains
            tensors = " and ".join(f"`{n}`" for n in m["only"])
            what = f"the {tensors} of {what.replace(' is', '').replace(' are', '')}" + (
                " are" if m.get("modules", 1) > 1 or len(m["only"]) > 1 else " is"
            )
        out.append(
            Finding(
                "TLR05",
                f"{what} frozen (requires_grad=False): {m['tensors']} "
                f"tensor{'s' if m['tensors'] != 1 else ''}, {m['values']:,} values are not trained",
                m.get("filename"),
                m.get("row"),
                "information",
            )
        )
    return out


def _error_cause(
    report: Report, run: _Run, end: dict[str, Any], returncode: int | None, stopped: str | None, timeout: float
) -> str | None:
    """Why the run cannot be judged, or None when it can."""
    err = end.get("error")
    if err and err.get("filename"):
        report.error_location = {"filename": err["filename"], "row": err.get("row")}
    if stopped == "timeout":
        return f"timed out after {timeout:g} s ({report.steps} steps done); the process tree was killed"
    if stopped == "cancelled":
        return f"cancelled after {report.steps} steps"
    if not run.end:
        if returncode is not None and returncode < 0:
            try:
                name = signal.Signals(-returncode).name
            except ValueError:
                name = str(-returncode)
            return f"the script process was killed by {name}"
        return f"the script process exited with code {returncode} without reporting (os._exit?)"
    reason = end.get("reason")
    if reason in ("exception", "interrupted"):
        return f"{err['type']}: {err['message']}" if err else "the script raised an exception"
    if reason == "exit" and report.steps == 0:
        return f"the script called sys.exit({end.get('exit_code')!r}) before the first optimizer step"
    if report.steps == 0:
        if end.get("frozen_batch") and end.get("backward_seen"):
            return (
                "no optimizer step was seen: the check counts torch.optim optimizer steps "
                "(parameters updated by hand, e.g. p.data.add_(-lr * p.grad), are not counted)"
            )
        if not end.get("dataloader_seen"):
            return "no DataLoader was iterated and no optimizer step ran (is this a training script?)"
        if not end.get("backward_seen"):
            return "no backward() call was seen"
        return "no optimizer step was seen (optimizer.step() never ran)"
    if not end.get("dataloader_seen") and not end.get("frozen_batch"):
        return (
            "no DataLoader was iterated and no training forward received data the probe could "
            "freeze, so it could not repeat one batch"
        )
    return None


def run_overfit_sync(script: str | Path, args: Sequence[str] = (), **kwargs: Any) -> Report:
    """Blocking wrapper for the CLI."""
    return asyncio.run(run_overfit(script, args, **kwargs))
