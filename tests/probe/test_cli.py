"""`python -m torchlint overfit ...`: exit codes, --json, --report/--plot, script arguments."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = Path(__file__).resolve().parent / "scripts"
ENV = {**os.environ, "PYTHONPATH": str(ROOT / "server"), "OMP_NUM_THREADS": "1"}

pytestmark = pytest.mark.timeout(120)


def _overfit(*args: str, cwd: Path = SCRIPTS) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "torchlint", "overfit", *args],
        cwd=cwd,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=110,
    )


def test_json_pass_with_script_arguments_after_dashdash(tmp_path):
    report, plot = tmp_path / "r.json", tmp_path / "loss.svg"
    proc = _overfit(
        "with_args.py",
        "--steps",
        "60",
        "--json",
        "--report",
        str(report),
        "--plot",
        str(plot),
        "--python",
        sys.executable,
        "--",
        "--lr",
        "0.01",
        "--hidden",
        "64",
        "--tag",
        "a b",
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = json.loads(proc.stdout)  # the script prints, yet stdout is pure JSON
    assert data["verdict"] == "PASS" and data["steps"] == 60
    assert "ARGS lr=0.01 hidden=64 tag=a b" in data["output_tail"]
    assert data["args"] == ["--lr", "0.01", "--hidden", "64", "--tag", "a b"]
    assert json.loads(report.read_text())["verdict"] == "PASS"
    assert data["plot"] == str(plot) and ET.parse(plot).getroot().tag.endswith("svg")
    assert "step" in proc.stderr  # progress goes to stderr


def test_fail_exits_1_with_text_report():
    proc = _overfit("lr_zero.py", "--steps", "10", "--no-plot", "-q")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert proc.stdout.startswith("torchlint overfit: FAIL")
    assert "lr_zero.py:8: TLR05" in proc.stdout
    assert proc.stderr == ""


def test_pass_with_an_error_finding_exits_1():
    """Gradients never cleared under accelerate: the one batch is still memorised, the runtime
    check finds the bug, and the exit code does not let it through."""
    proc = _overfit("accelerate_bug.py", "--steps", "40", "--no-plot", "-q", "--json")
    data = json.loads(proc.stdout)
    assert any(f["code"] == "TLR07" and f["severity"] == "error" for f in data["findings"]), data["findings"]
    assert proc.returncode == 1, data["summary"]


def test_error_exits_2_and_usage_errors_exit_2():
    proc = _overfit("with_args.py", "--steps", "5", "-q", "--no-plot")  # argparse in the script: --lr missing
    assert proc.returncode == 2
    assert "ERROR" in proc.stdout and "sys.exit(2)" in proc.stdout
    assert "the following arguments are required: --lr" in proc.stdout  # the script's stderr tail
    assert _overfit("does_not_exist.py").returncode == 2
    assert _overfit("mlp_ok.py", "--steps", "0").returncode == 2


def test_ctrl_c_kills_the_script_process_group():
    proc = subprocess.Popen(
        [sys.executable, "-m", "torchlint", "overfit", "slow.py", "--no-plot"],
        cwd=SCRIPTS,
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    pid = None
    for line in proc.stderr:  # progress lines: "overfit: script started (pid N)", "overfit: step ..."
        if "pid" in line:
            pid = int(line.rsplit("pid", 1)[1].strip(" )\n"))
        if "step 1/" in line:
            break
    assert pid is not None
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 2, out + err
    assert "interrupted" in err
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            os.killpg(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        raise AssertionError("the script's process group survived Ctrl-C")
