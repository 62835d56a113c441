"""Evaluation loops are found by what they do with a model (not by what they iterate), one entry
per model a loop runs, and the search of what their outputs feed stays bounded."""

from __future__ import annotations

from pathlib import Path

from torchlint.analysis import flow
from torchlint.analysis.context import FileContext
from torchlint.analysis.workspace import Workspace
from torchlint.rules import all_rules


def _ctx(tmp_path: Path, text: str) -> FileContext:
    ws = Workspace(tmp_path)
    model = ws.model_for_text(str(tmp_path / "t.py"), text, fresh=True)
    return FileContext(model.source, model, ws, exhausted={})


def test_one_entry_per_model_of_a_loop(tmp_path):
    text = (
        "import torch.nn as nn\n"
        "encoder = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.1))\n"
        "decoder = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.1))\n"
        "def run(batches):\n"
        "    out = []\n"
        "    for x in batches:\n"
        "        out.append(decoder(encoder(x)))\n"
        "        out.append(decoder(x))\n"
        "    return out\n"
    )
    found = _ctx(tmp_path, text).flow.evaluation_loops()
    assert sorted(e.target for _, _, e in found) == ["decoder", "encoder"]
    assert len({id(loop) for loop, _, _ in found}) == 1


def _many_loops(n: int, body: str) -> str:
    lines = ["import torch", "", "def evaluate(model, xs):", "    acc = 0", "    preds = []"]
    for k in range(n):
        lines += [f"    for x in xs[{k}]:", f"        {body}"]
    return "\n".join(lines + ["    return acc"]) + "\n"


def test_thousands_of_evaluation_loops_complete_within_bounds(tmp_path):
    # outputs detached at once: nothing to follow, every loop is judged
    ctx = _ctx(tmp_path, _many_loops(1500, "acc += model(x).sum().item()"))
    findings = [f for rule in all_rules() for f in rule().check(ctx)]
    assert sum(f.code == "TL203" for f in findings) == 1500
    assert not ctx.flow.exhausted()
    # outputs kept in one list: the taint search runs out of its own allowance (loops are then
    # not judged), never out of the function's budget
    ctx = _ctx(tmp_path, _many_loops(1500, "preds.append(model(x))"))
    findings = [f for rule in all_rules() for f in rule().check(ctx)]
    assert 0 < sum(f.code == "TL203" for f in findings) < 1500
    assert not ctx.flow.exhausted()
    cfg = next(c for s, c in ctx.flow._cfgs.items() if getattr(s, "name", None) == "evaluate")
    assert cfg.taint_left < 0 and cfg.steps < flow.FUNCTION_BUDGET
