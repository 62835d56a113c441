"""Shared by the probe tests: the fixture-script table, the concurrent runner, finding helpers."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

from torchlint.probe.report import Report
from torchlint.probe.runner import run_overfit

SCRIPTS = Path(__file__).resolve().parent / "scripts"
CONCURRENCY = 3  # 2 cores: torch import is CPU-bound, the hang/timeout cases mostly wait
# One intra-op thread per child: several children share 2 cores, threads would only contend.
# An empty PYTHONPATH: the child must find the instrumentation without torchlint installed.
CHILD_ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONPATH": ""}
STEPS = 40

# name -> run_overfit keyword arguments (beyond the script path)
SPECS: dict[str, dict[str, Any]] = {
    "mlp_ok": {},
    "cnn_ok": {"steps": 100},
    "plain_list": {},
    "unused_layer": {},
    "lr_zero": {},
    "frozen": {},
    "eval_dropout": {},
    "no_zero_grad": {},
    "nan_loss": {},
    "softmax_ce": {},
    "grad_scaler": {},
    "grad_accum": {},
    "workers": {},
    "compiled": {"timeout": 90},
    "hangs": {"timeout": 15},
    "raises": {},
    "exits": {},
    "crashes": {},
    "no_loader": {},
    "bad_init": {},
    "dead_relu": {},
    "vanishing": {},
    "eval_train_mode": {},
    "batch_mix": {},
    # training styles (issue 12): a healthy script and a seeded bug per style
    "closure_ok": {},
    "closure_bug": {},
    "lightning_ok": {"timeout": 120},
    "lightning_bug": {"timeout": 120},
    "accelerate_ok": {"timeout": 120},
    "accelerate_bug": {"timeout": 120},
    "amp_ok": {},
    "amp_bug": {},
    "get_batch_ok": {},
    "get_batch_bug": {},
    "gan_ok": {},
    "gan_bug": {},
    "compiled_bug": {"timeout": 90},
    "smoothing_ok": {},
    "warmup_zero": {},
    "partly_frozen": {},
    "layer_in_forward": {},
    "slow": {"steps": 1000, "timeout": 40},  # a timeout after the curve has converged (0.1 s a step)
}


async def _run_all() -> dict[str, Report]:
    sem = asyncio.Semaphore(CONCURRENCY)

    async def one(name: str) -> tuple[str, Report]:
        kwargs = {"steps": STEPS, "timeout": 60, "plot_path": "", **SPECS[name]}
        async with sem:
            return name, await run_overfit(SCRIPTS / f"{name}.py", cwd=SCRIPTS, env=CHILD_ENV, **kwargs)

    # the slowest first, so the pool drains evenly
    order = sorted(
        SPECS,
        key=lambda n: n not in ("slow", "compiled", "compiled_bug", "hangs", "cnn_ok", "lightning_ok", "lightning_bug"),
    )
    return dict(await asyncio.gather(*(one(n) for n in order)))


def codes(report: Report) -> set[str]:
    return {f.code for f in report.findings}


def finding(report: Report, code: str):
    found = [f for f in report.findings if f.code == code]
    assert found, f"no {code} in {[(f.code, f.message) for f in report.findings]}"
    return found[0]


def group_gone(pid: int, wait: float = 5.0) -> bool:
    """True once the process group `pid` has no process left (polls for `wait` seconds)."""
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        try:
            os.killpg(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False
