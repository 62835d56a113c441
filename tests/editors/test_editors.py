"""Real editors, headless: Neovim (vim.lsp) and Emacs (Eglot) open a buggy file, show torchlint's
diagnostics and apply its quick fix, using the user configs shipped in editors/.

Skipped when the editor is not installed, unless TORCHLINT_REQUIRE_EDITORS=1 (CI), where a
missing editor fails. `.ci/setup.d/20-editors.sh` installs both.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent

sys.path.insert(0, str(REPO / "tests" / "lsp"))
from lsp_harness import BUGGY_TRAIN as BUGGY


def _require(binary: str) -> str:
    path = shutil.which(binary)
    if path is None:
        if os.environ.get("TORCHLINT_REQUIRE_EDITORS") == "1":
            pytest.fail(f"{binary} is required (TORCHLINT_REQUIRE_EDITORS=1); run .ci/setup.d/20-editors.sh")
        pytest.skip(f"{binary} is not installed (run .ci/setup.d/20-editors.sh)")
    return path


def _project(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    project.mkdir()
    (project / "pyproject.toml").write_text("[tool.torchlint]\n")
    (project / "train.py").write_text(BUGGY)
    return project


def _run(cmd: list[str], project: Path, tmp_path: Path) -> dict:
    result_path = tmp_path / "result.json"
    env = dict(
        os.environ,
        TORCHLINT_REPO=str(REPO),
        TORCHLINT_FILE=str(project / "train.py"),
        TORCHLINT_RESULT=str(result_path),
        TORCHLINT_PYTHON=sys.executable,
        HOME=str(tmp_path / "home"),  # no user config leaks in
    )
    (tmp_path / "home").mkdir(exist_ok=True)
    proc = subprocess.run(
        cmd, cwd=project, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=150
    )
    assert result_path.exists(), (
        f"the editor wrote no result (rc={proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    )
    report = json.loads(result_path.read_text())
    assert report["ok"] is True, report["message"]
    return report


def _check(report: dict, project: Path) -> None:
    assert report["diagnostic"]["code"] == "TL101"
    assert report["diagnostic"]["source"] == "torchlint"
    text = report["text"]
    assert "optimizer.zero_grad()" in text
    compile(text, "train.py", "exec")


@pytest.mark.timeout(180)
def test_neovim_diagnostics_and_quick_fix(tmp_path):
    nvim = _require("nvim")
    project = _project(tmp_path)
    report = _run(
        [nvim, "--headless", "-u", "NONE", "-i", "NONE", "-n", "-c", f"luafile {HERE / 'nvim_quickfix.lua'}"],
        project,
        tmp_path,
    )
    _check(report, project)
    # titles are prefixed like ruff's: "torchlint (TL101): Insert ..."
    assert report["chosen"].startswith("torchlint (TL101): Insert")
    assert "optimizer.zero_grad()" in report["fix_all_text"]


@pytest.mark.timeout(180)
def test_emacs_eglot_diagnostics_and_quick_fix(tmp_path):
    emacs = _require("emacs")
    project = _project(tmp_path)
    probe = subprocess.run(
        [emacs, "--batch", "-q", "--eval", "(progn (require 'package) (package-initialize) (require 'eglot))"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if probe.returncode != 0:
        if os.environ.get("TORCHLINT_REQUIRE_EDITORS") == "1":
            pytest.fail(f"eglot is required: {probe.stderr[-500:]}")
        pytest.skip("eglot is not installed (Debian: elpa-eglot)")
    subprocess.run(["git", "init", "-q", str(project)], check=False)  # Eglot's project root
    report = _run([emacs, "--batch", "-q", "-l", str(HERE / "emacs_quickfix.el")], project, tmp_path)
    _check(report, project)
    assert "optimizer.zero_grad()" in report["fix_all_text"]
