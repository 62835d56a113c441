"""The overfit check on the GPU: the same code paths as on CPU, with the device the script
chose. Skipped without CUDA (the CI machine has none); run with `pytest -m cuda` on a GPU box."""

from __future__ import annotations

import pytest
import torch
from probe_support import CHILD_ENV, SCRIPTS

from torchlint.probe.runner import run_overfit

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.timeout(240),
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]


async def test_cuda_amp_script_runs_on_the_gpu():
    r = await run_overfit(SCRIPTS / "cuda_ok.py", cwd=SCRIPTS, env=CHILD_ENV, steps=40, timeout=120, plot_path="")
    assert r.verdict == "PASS", (r.summary, r.output_tail[-2000:])
    assert r.device.startswith("cuda")
    assert 0 < r.peak_memory_bytes < 2**30  # torch.cuda.max_memory_allocated, not the process RSS
    assert r.findings == []
    assert abs(r.losses[0] - 1.6) < 0.5  # the unscaled loss, not GradScaler's 65536 x
