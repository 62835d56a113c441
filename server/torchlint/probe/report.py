"""The overfit-check report: data, JSON shape, terminal text, sparkline and SVG plot."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Any
from xml.sax.saxutils import escape

SPARK_CHARS = "▁▂▃▄▅▆▇█"


@dataclass
class Finding:
    code: str
    message: str
    filename: str | None = None
    row: int | None = None  # 1-based
    severity: str = "warning"  # error | warning | information
    step: int | None = None
    cell: int | None = None  # in a notebook: the cell (1-based among all cells) `row` counts in

    def to_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "message": self.message,
            "filename": self.filename,
            "row": self.row,
            "severity": self.severity,
            "step": self.step,
            "cell": self.cell,
        }


@dataclass
class Report:
    verdict: str  # PASS | PARTIAL | FAIL | ERROR
    script: str
    args: list[str] = field(default_factory=list)
    device: str | None = None
    steps: int = 0
    steps_requested: int = 0
    losses: list[float | None] = field(default_factory=list)
    seconds_per_step: float | None = None
    peak_memory_bytes: int | None = None
    findings: list[Finding] = field(default_factory=list)
    error: str | None = None
    error_location: dict[str, Any] | None = None  # {"filename", "row"}
    summary: str = ""
    output_tail: str = ""
    plot: str | None = None
    pid: int | None = None
    duration_seconds: float | None = None
    torch_version: str | None = None
    notes: list[str] = field(default_factory=list)
    # added for issue 12 (the fields above keep their names and meaning)
    lrs: list[float | None] = field(default_factory=list)  # first optimizer's lr per step
    curves: list[dict[str, Any]] = field(default_factory=list)  # one per optimizer with a loss
    adversarial: bool = False  # one player's loss passes through another's parameters (GAN)
    frozen_batch: dict[str, Any] | None = None  # which batch was frozen, and how
    runtime_warnings: list[dict[str, Any]] = field(default_factory=list)
    loss_floor: float | None = None  # lowest reachable loss when known (label smoothing)
    partial_run: bool = False  # verdict from the steps done before a timeout

    def to_json(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "device": self.device,
            "steps": self.steps,
            "steps_requested": self.steps_requested,
            "losses": [_json_float(x) for x in self.losses],
            "seconds_per_step": self.seconds_per_step,
            "peak_memory_bytes": self.peak_memory_bytes,
            "findings": [f.to_json() for f in self.findings],
            "error": self.error,
            "error_location": self.error_location,
            "summary": self.summary,
            "notes": self.notes,
            "script": self.script,
            "args": list(self.args),
            "plot": self.plot,
            "pid": self.pid,
            "duration_seconds": self.duration_seconds,
            "torch": self.torch_version,
            "output_tail": self.output_tail,
            "lrs": [_json_float(x) for x in self.lrs],
            "curves": [{**c, "losses": [_json_float(x) for x in c["losses"]]} for c in self.curves],
            "adversarial": self.adversarial,
            "frozen_batch": self.frozen_batch,
            "runtime_warnings": self.runtime_warnings,
            "loss_floor": self.loss_floor,
            "partial_run": self.partial_run,
        }


def _json_float(x: float | None) -> float | str | None:
    # JSON has no NaN/Infinity: keep them visible as strings.
    if x is None or math.isfinite(x):
        return x
    return str(x)


def sparkline(losses: list[float | None], width: int = 40) -> str:
    """Loss curve as block characters, resampled to `width`; '!' marks NaN/Inf, ' ' no value."""
    if not losses:
        return ""
    n = len(losses)
    idx = [round(i * (n - 1) / (width - 1)) for i in range(width)] if n > width else list(range(n))
    picked = [losses[i] for i in idx]
    finite = [x for x in picked if x is not None and math.isfinite(x)]
    if not finite:
        return "".join("!" if x is not None else " " for x in picked)
    lo, hi = min(finite), max(finite)
    span = hi - lo or 1.0
    out = []
    for x in picked:
        if x is None:
            out.append(" ")
        elif not math.isfinite(x):
            out.append("!")
        else:
            out.append(SPARK_CHARS[min(7, int((x - lo) / span * 7.999))])
    return "".join(out)


def _fmt_bytes(n: int | None) -> str:
    if n is None:
        return "?"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return str(n)


def _where(filename: str | None, row: int | None, cwd: str | None = None, cell: int | None = None) -> str:
    if not filename:
        return ""
    name = filename
    try:
        rel = os.path.relpath(filename, cwd or os.getcwd())
        if not rel.startswith(".."):
            name = rel
    except ValueError:
        pass
    if cell is not None:  # a notebook: `nb.ipynb:cell 4:5`, as `torchlint check` prints it
        name = f"{name}:cell {cell}"
    return f"{name}:{row}" if row else name


def render_text(report: Report, cwd: str | None = None, tail_lines: int = 20) -> str:
    lines = []
    script = _where(report.script, None, cwd)
    facts = [f"{report.steps}/{report.steps_requested} steps"]
    if report.device:
        facts.append(f"on {report.device}")
    if report.seconds_per_step is not None:
        facts.append(f"{report.seconds_per_step * 1000:.1f} ms/step")
    if report.peak_memory_bytes is not None:
        facts.append(f"peak memory {_fmt_bytes(report.peak_memory_bytes)}")
    lines.append(f"torchlint overfit: {report.verdict}  {script} ({', '.join(facts)})")
    if report.summary and not report.error:
        lines.append(f"  {report.summary}")
    if report.losses:
        lines.append(f"  loss curve  {sparkline(report.losses)}")
    if report.error:
        loc = report.error_location or {}
        where = _where(loc.get("filename"), loc.get("row"), cwd, loc.get("cell"))
        lines.append(f"  error: {report.error}" + (f"  ({where})" if where else ""))
    for f in report.findings:
        where = _where(f.filename, f.row, cwd, f.cell)
        lines.append(f"  {where + ': ' if where else ''}{f.code} {f.message}")
    for note in report.notes:
        lines.append(f"  note: {note}")
    if report.plot:
        lines.append(f"  plot: {report.plot}")
    if report.verdict == "ERROR" and report.output_tail.strip():
        tail = report.output_tail.rstrip("\n").splitlines()[-tail_lines:]
        lines.append("  --- last lines of the script's output ---")
        lines.extend("  | " + t for t in tail)
    return "\n".join(lines)


def _nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round tick values (1, 2, 2.5, 5 x 10^k steps) covering [lo, hi]."""
    span = hi - lo
    if span <= 0 or not math.isfinite(span):
        return [lo]
    raw = span / max(count - 1, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step - 1e-9) * step
    ticks = []
    v = first
    while v <= hi + 1e-9 * step:
        ticks.append(0.0 if abs(v) < step * 1e-9 else v)
        v += step
    return ticks


def _tick_labels(ticks: list[float]) -> list[str]:
    """The shortest formatting that keeps every label distinct (never "2.3, 2.3, 2.3")."""
    for digits in range(2, 10):
        labels = [f"{t:.{digits}g}" for t in ticks]
        if len(set(labels)) == len(labels):
            return labels
    return [repr(t) for t in ticks]


def render_svg(report: Report, width: int = 640, height: int = 320) -> str:
    """A self-contained SVG line plot of the loss per step (no plotting library): linear axis,
    or logarithmic when the finite losses span more than two decades; the PASS (5 %) and
    PARTIAL (50 %) lines of the initial loss (above the floor, if known); the verdict in the title."""
    from .verdict import PARTIAL_FRACTION, PASS_FRACTION

    pts = [(i + 1, x) for i, x in enumerate(report.losses) if x is not None and math.isfinite(x)]
    bad = [i + 1 for i, x in enumerate(report.losses) if x is not None and not math.isfinite(x)]
    n = max(len(report.losses), 2)
    ys = [y for _, y in pts]
    log = bool(ys) and min(ys) > 0 and max(ys) / min(ys) > 100
    lo: float  # decades (ints) on the log axis
    hi: float
    if log:
        lo_e, hi_e = math.floor(math.log10(min(ys))), math.ceil(math.log10(max(ys)))
        hi_e = max(hi_e, lo_e + 1)
        ticks = [10.0**e for e in range(lo_e, hi_e + 1)]
        if len(ticks) > 7:
            ticks = ticks[:: math.ceil(len(ticks) / 7)]
        lo, hi = lo_e, hi_e
        labels = [f"1e{e}" for e in range(lo_e, hi_e + 1)][:: max(1, math.ceil((hi_e - lo_e + 1) / 7))]
    else:
        top = max(ys, default=1.0)
        bottom = min(0.0, min(ys, default=0.0))
        ticks = _nice_ticks(bottom, top)
        lo, hi = min(ticks[0], bottom), max(ticks[-1], top)
        if hi <= lo:
            hi = lo + 1.0
        labels = _tick_labels(ticks)
    left = 24 + 7 * max((len(t) for t in labels), default=3)  # room for the widest label
    right, top_m, bottom_m = 16, 40, 40
    pw, ph = width - left - right, height - top_m - bottom_m

    def sx(step: float) -> float:
        return left + (step - 1) / (n - 1) * pw

    def sy(val: float) -> float:
        v = math.log10(val) if log else val
        return top_m + (hi - v) / (hi - lo) * ph

    colour = {"PASS": "#2e7d32", "PARTIAL": "#ef6c00", "FAIL": "#c62828"}.get(report.verdict, "#555")
    scale = "log scale" if log else "linear scale"
    title = f"{report.verdict}: {os.path.basename(report.script)} ({len(report.losses)} steps, {scale})"
    parts = [
        (
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">'
        ),
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{left}" y="22" font-size="14" font-weight="bold" fill="{colour}">{escape(title)}</text>',
        f'<line x1="{left}" y1="{top_m}" x2="{left}" y2="{top_m + ph}" stroke="#333"/>',
        f'<line x1="{left}" y1="{top_m + ph}" x2="{left + pw}" y2="{top_m + ph}" stroke="#333"/>',
    ]
    for val, label in zip(ticks, labels):
        y = sy(val)
        parts.append(f'<line x1="{left - 4}" y1="{y:.1f}" x2="{left + pw}" y2="{y:.1f}" stroke="#eee"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{escape(label)}</text>')
    for step in sorted({1, (n + 1) // 2, n}):
        x = sx(step)
        parts.append(f'<text x="{x:.1f}" y="{top_m + ph + 16}" text-anchor="middle">{step}</text>')
    parts.append(f'<text x="{left + pw / 2:.1f}" y="{height - 6}" text-anchor="middle">step</text>')
    parts.append(
        f'<text x="12" y="{top_m + ph / 2:.1f}" transform="rotate(-90 12 {top_m + ph / 2:.1f})" '
        f'text-anchor="middle">loss</text>'
    )
    if pts and not report.adversarial:
        first = pts[0][1]
        floor = report.loss_floor or 0.0
        for frac, name, stroke in ((PASS_FRACTION, "pass", "#2e7d32"), (PARTIAL_FRACTION, "50 %", "#ef6c00")):
            val = floor + frac * (first - floor)
            if first > floor and val > 0 and (not log or 10**lo <= val <= 10**hi):
                y = sy(val)
                parts.append(
                    f'<line x1="{left}" y1="{y:.1f}" x2="{left + pw}" y2="{y:.1f}" '
                    f'stroke="{stroke}" stroke-dasharray="4 4"/>'
                )
                parts.append(
                    f'<text x="{left + pw - 2}" y="{y - 4:.1f}" text-anchor="end" fill="{stroke}">{name}</text>'
                )
        poly = " ".join(f"{sx(s):.1f},{sy(v):.1f}" for s, v in pts)
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{poly}"/>')
    elif pts:
        poly = " ".join(f"{sx(s):.1f},{sy(v):.1f}" for s, v in pts)
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{poly}"/>')
    if bad:
        # non-finite steps: a red tick at the top of the plot for each, and what happened
        for step in bad[:200]:
            parts.append(
                f'<line x1="{sx(step):.1f}" y1="{top_m}" x2="{sx(step):.1f}" y2="{top_m + 8}" stroke="#c62828"/>'
            )
        value = report.losses[bad[0] - 1]
        msg = f"loss {value} from step {bad[0]}" + (
            f" ({len(bad)} of {len(report.losses)} steps)" if len(bad) > 1 else ""
        )
        parts.append(
            f'<text x="{left + pw / 2:.1f}" y="{top_m + ph / 2:.1f}" fill="#c62828" '
            f'font-size="16" text-anchor="middle">{escape(msg)}</text>'
        )
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def write_svg(report: Report, path: str) -> str:
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(render_svg(report))
    return path
