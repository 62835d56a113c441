"""Mode fixes checked by running the fixed scripts (CPU torch): after `torchlint check --fix`,
every Dropout/BatchNorm runs in train mode in the training forwards (gradients on) and in
eval mode in the evaluation forwards (under no_grad). Before the fix, the same check fails:
the scripts really have the bug."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")

RUNTIME = Path(__file__).resolve().parents[1] / "fixtures" / "runtime"

# Run a script with a global forward hook on every mode-dependent layer; print what it saw.
HARNESS = """
import json, runpy, sys, torch
from torch import nn
seen = []
MODE = (nn.Dropout, nn.BatchNorm1d, nn.BatchNorm2d)
def hook(module, args):
    if isinstance(module, MODE):
        seen.append((torch.is_grad_enabled(), module.training))
nn.modules.module.register_module_forward_pre_hook(hook)
runpy.run_path(sys.argv[1], run_name="__main__")
print("MODES=" + json.dumps(sorted(set(map(tuple, seen)))))
"""


def modes_seen(script: Path) -> set[tuple[bool, bool]]:
    r = subprocess.run([sys.executable, "-c", HARNESS, str(script)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    line = next(l for l in r.stdout.splitlines() if l.startswith("MODES="))
    return {tuple(x) for x in json.loads(line[len("MODES=") :])}


WRONG = {(True, False), (False, True)}  # training forward in eval mode / evaluation forward in train mode


@pytest.mark.parametrize("script", sorted(RUNTIME.glob("*.py")), ids=lambda p: p.stem)
def test_fixed_script_runs_each_phase_in_its_mode(script, tmp_path):
    work = tmp_path / script.name
    shutil.copy(script, work)
    assert modes_seen(work) & WRONG, "the script should have a mode bug before the fix"
    r = subprocess.run(
        [sys.executable, "-m", "torchlint", "check", "--fix", str(work)], capture_output=True, text=True, timeout=120
    )
    assert r.returncode in (0, 1), r.stderr
    assert not modes_seen(work) & WRONG, work.read_text()
    again = subprocess.run(
        [sys.executable, "-m", "torchlint", "check", str(work)], capture_output=True, text=True, timeout=120
    )
    assert again.returncode == 0, again.stdout
