"""The overfit check on Jupyter notebooks, run for real: the code cells in order as one script
(magics skipped, `%time x = f()` kept), from the notebook's folder, with findings and errors
at cells."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(ROOT / "server"), "OMP_NUM_THREADS": "1"}

pytestmark = pytest.mark.timeout(180)

CELLS = [
    "%matplotlib inline\nimport torch\nimport torch.nn as nn\nfrom torch.utils.data import DataLoader, TensorDataset\n"
    "!pip install -q something-we-never-install\nfrom nb_data import make_data  # a module beside the notebook\n",
    "torch.manual_seed(0)\nscale = float(open('scale.txt').read())  # a path relative to the notebook's folder\n"
    "X, Y = make_data(scale)\nloader = DataLoader(TensorDataset(X, Y), batch_size=16, shuffle=True)\n",
    "model = nn.Sequential(nn.Linear(8, 64), nn.ReLU(), nn.Linear(64, 3))\n"
    "opt = torch.optim.Adam(model.parameters(), lr=1e-2)\ncrit = nn.CrossEntropyLoss()\n",
    "%%time\nfor epoch in range(50):\n    for x, y in loader:\n        opt.zero_grad()\n"
    "        %time loss = crit(model(x), y)\n        loss.backward()\n        opt.step()\n",
]


def write_notebook(folder: Path, name: str, cells: list[str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "nb_data.py").write_text(
        "import torch\n\ndef make_data(scale):\n    return torch.randn(64, 8) * scale, torch.randint(0, 3, (64,))\n"
    )
    (folder / "scale.txt").write_text("1.0\n")
    nb = {
        "cells": [{"cell_type": "markdown", "metadata": {}, "source": ["# Notebook"]}]
        + [
            {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": c.splitlines(True)}
            for c in cells
        ],
        "metadata": {"kernelspec": {"language": "python", "name": "python3", "display_name": "Python 3"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path = folder / name
    path.write_text(json.dumps(nb, indent=1))
    return path


def overfit(path: Path, *args: str) -> dict:
    proc = subprocess.run(
        [sys.executable, "-m", "torchlint", "overfit", str(path), "--json", "--steps", "60", *args],
        cwd=ROOT,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=170,
    )
    return json.loads(proc.stdout)


def test_a_healthy_notebook_passes_run_from_its_folder(tmp_path):
    report = overfit(write_notebook(tmp_path / "nb", "train.ipynb", CELLS))
    assert report["verdict"] == "PASS", report
    assert report["script"].endswith("train.ipynb")
    assert any("code cells in order" in n for n in report["notes"])


def test_a_seeded_bug_is_reported_at_its_cell(tmp_path):
    cells = list(CELLS)
    cells[3] = cells[3].replace("        opt.zero_grad()\n", "")
    report = overfit(write_notebook(tmp_path / "nb", "bug.ipynb", cells))
    [tlr07] = [f for f in report["findings"] if f["code"] == "TLR07"]
    assert tlr07["filename"].endswith("bug.ipynb") and tlr07["cell"] == 5  # the markdown cell counts
    assert 1 <= tlr07["row"] <= 7


def test_state_from_an_interactive_session_is_named(tmp_path):
    cells = list(CELLS)
    cells[2] = "crit = nn.CrossEntropyLoss()\n"  # `model` and `opt` came from a cell deleted since
    report = overfit(write_notebook(tmp_path / "nb", "state.ipynb", cells))
    assert report["verdict"] == "ERROR" and report["error"].startswith("NameError")
    assert report["error_location"]["cell"] == 5 and report["error_location"]["filename"].endswith("state.ipynb")
    assert any("interactive session" in n for n in report["notes"])
    assert "torchlint-notebook-" not in json.dumps(report)  # the generated script never shows


def test_a_notebook_with_a_broken_cell_is_refused_with_the_cell(tmp_path):
    cells = list(CELLS)
    cells[2] = "model = nn.Sequential(\n"
    report = overfit(write_notebook(tmp_path / "nb", "broken.ipynb", cells))
    assert report["verdict"] == "ERROR" and "cell 4 of broken.ipynb does not parse" in report["error"]
