"""Per-step overhead of the overfit-check instrumentation, against the same script run plainly.

    python bench/overfit_overhead.py [--steps 300] [--rounds 3] [--threads 1]

For each model (a tiny MLP: the worst case, ~1 ms steps; a small CNN: ~10 ms steps) the same
training script runs alternately (a) plainly and (b) under `torchlint overfit`, in this one
benchmark run. Both measure the same thing: the median wall time between consecutive
optimizer steps (plain: the script times itself; probe: the report's `seconds_per_step`, taken
between the post-step hooks). Both feed one fixed batch through a DataLoader, so the
comparison is the hooks, not data loading. Reported: median(probe) / median(plain) - 1 over
the rounds, and the same for the best round of each (on a shared, busy machine other load
only ever adds time, so the minimum is the steadier estimate). Target: < 5 %.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "server"))

from torchlint.probe.runner import run_overfit_sync

SCRIPT = r"""
import json, os, statistics, sys, time
import torch
from torch import nn
from torch.utils.data import DataLoader

kind, steps = sys.argv[1], int(sys.argv[2])
torch.manual_seed(0)
if kind == "mlp":
    batch = (torch.randn(64, 32), torch.randint(0, 10, (64,)))
    model = nn.Sequential(nn.Linear(32, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, 10))
else:
    batch = (torch.randn(32, 3, 32, 32), torch.randint(0, 10, (32,)))
    model = nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Dropout(0.1), nn.Linear(32 * 8 * 8, 10))
loader = DataLoader([batch] * steps, batch_size=None)  # one fixed batch, like the probe's
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
loss_fn = nn.CrossEntropyLoss()
stamps = []
for x, y in loader:
    opt.zero_grad()
    loss = loss_fn(model(x), y)
    loss.backward()
    opt.step()
    stamps.append(time.perf_counter())
gaps = [b - a for a, b in zip(stamps[1:], stamps[2:])]
out = os.environ.get("BENCH_OUT")
if out:
    with open(out, "w") as fh:
        json.dump({"seconds_per_step": statistics.median(gaps)}, fh)
"""


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", default="1", help="OMP_NUM_THREADS for both runs")
    opts = ap.parse_args()
    env_extra = {"OMP_NUM_THREADS": opts.threads, "MKL_NUM_THREADS": opts.threads}
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "bench_train.py"
        script.write_text(SCRIPT)
        out = Path(tmp) / "plain.json"
        results = {}
        for kind in ("mlp", "cnn"):
            plain, probe = [], []
            for _ in range(opts.rounds):
                env = {**os.environ, **env_extra, "BENCH_OUT": str(out)}
                subprocess.run([sys.executable, str(script), kind, str(opts.steps)], env=env, check=True)
                plain.append(json.loads(out.read_text())["seconds_per_step"])
                rep = run_overfit_sync(
                    script, [kind, str(opts.steps)], steps=opts.steps, plot_path="", env=env_extra, timeout=600
                )
                assert rep.verdict != "ERROR", rep.error
                probe.append(rep.seconds_per_step)
            p, q = statistics.median(plain), statistics.median(probe)
            best = min(probe) / min(plain) - 1
            results[kind] = {
                "plain_ms": p * 1e3,
                "probe_ms": q * 1e3,
                "overhead": q / p - 1,
                "overhead_best_round": best,
                "plain_rounds_ms": [x * 1e3 for x in plain],
                "probe_rounds_ms": [x * 1e3 for x in probe],
            }
            print(
                f"{kind}: plain {p * 1e3:.3f} ms/step, probe {q * 1e3:.3f} ms/step, "
                f"overhead {100 * (q / p - 1):+.1f} % (best rounds: {100 * best:+.1f} %)  (rounds plain {[round(x * 1e3, 3) for x in plain]}, "
                f"probe {[round(x * 1e3, 3) for x in probe]})"
            )
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
