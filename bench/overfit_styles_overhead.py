"""Per-step overhead of the overfit check on the training styles added in issue 12.

    python bench/overfit_styles_overhead.py [--steps 300] [--rounds 3] [--threads 1]

For each style the same script runs alternately (a) plainly and (b) under `torchlint overfit`,
in this one benchmark run: `loader` (a DataLoader, the path bench/overfit_overhead.py covers),
`get_batch` (batches sliced by hand: the replay hooks freeze them), `closure` (SGD.step(closure):
the wrapped closure) and `gan` (two optimizers, per-optimizer curves and clearing checks).
Both sides measure the median wall time between consecutive steps of the first optimizer
(plain: the script times itself; probe: the report's `seconds_per_step`). The plain run gets the
same fixed batch the probe would freeze (a cached batch, or a constant tensor), so the
comparison is the instrumentation, not data loading. Reported: median ratio over the rounds and
the ratio of the best rounds (on a shared machine other load only adds time).
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
X, Y = torch.randn(64, 32), torch.randint(0, 10, (64,))
mlp = lambda: nn.Sequential(nn.Linear(32, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, 10))
stamps = []
if kind == "loader":
    model = mlp()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    for x, y in DataLoader([(X, Y)] * steps, batch_size=None):
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
        stamps.append(time.perf_counter())
elif kind == "get_batch":
    model = mlp()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    def get_batch():
        return X.clone(), Y.clone()  # what the probe's replay hands back
    for _ in range(steps):
        x, y = get_batch()
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
        stamps.append(time.perf_counter())
elif kind == "closure":
    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=1e-2)
    for x, y in DataLoader([(X, Y)] * steps, batch_size=None):
        def closure():
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(x), y)
            loss.backward()
            return loss
        opt.step(closure)
        stamps.append(time.perf_counter())
else:  # gan
    G = nn.Sequential(nn.Linear(16, 128), nn.ReLU(), nn.Linear(128, 32))
    D = nn.Sequential(nn.Linear(32, 128), nn.LeakyReLU(0.2), nn.Linear(128, 1))
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4)
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4)
    bce = nn.BCEWithLogitsLoss()
    Z = torch.randn(64, 16)
    ones, zeros = torch.ones(64, 1), torch.zeros(64, 1)
    for (real,) in DataLoader([(X,)] * steps, batch_size=None):
        fake = G(Z.clone())
        opt_d.zero_grad()
        (0.5 * (bce(D(real), ones) + bce(D(fake.detach()), zeros))).backward()
        opt_d.step()
        stamps.append(time.perf_counter())
        opt_g.zero_grad()
        bce(D(fake), ones).backward()
        opt_g.step()
gaps = [b - a for a, b in zip(stamps[1:], stamps[2:])]
out = os.environ.get("BENCH_OUT")
if out:
    with open(out, "w") as fh:
        json.dump({"seconds_per_step": statistics.median(gaps)}, fh)
"""

KINDS = ("loader", "get_batch", "closure", "gan")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", default="1", help="OMP_NUM_THREADS for both runs")
    ap.add_argument("--kinds", default=",".join(KINDS))
    opts = ap.parse_args()
    env_extra = {"OMP_NUM_THREADS": opts.threads, "MKL_NUM_THREADS": opts.threads}
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "bench_styles.py"
        script.write_text(SCRIPT)
        out = Path(tmp) / "plain.json"
        for kind in opts.kinds.split(","):
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
                "plain_rounds_ms": [round(x * 1e3, 3) for x in plain],
                "probe_rounds_ms": [round(x * 1e3, 3) for x in probe],
            }
            print(
                f"{kind}: plain {p * 1e3:.3f} ms/step, probe {q * 1e3:.3f} ms/step, ratio {q / p:.3f} "
                f"({100 * (q / p - 1):+.1f} %; best rounds {100 * best:+.1f} %)",
                flush=True,
            )
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
