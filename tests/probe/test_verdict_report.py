"""Verdict thresholds, TLR08, and the report renderers (pure Python, no subprocess)."""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET

from torchlint.probe.report import Finding, Report, render_svg, render_text, sparkline
from torchlint.probe.verdict import initial_loss_finding, judge


def _curve(start: float, end: float, n: int = 50) -> list[float]:
    """Linear from start to end, then flat at end (the judged "final" is the last-5 median)."""
    return [start + (end - start) * i / (n - 6) for i in range(n - 5)] + [end] * 5


def test_pass_needs_a_95_percent_drop_or_an_absolute_floor():
    assert judge(_curve(2.0, 0.09)).verdict == "PASS"  # 95.5 % drop
    assert judge(_curve(2.0, 0.11)).verdict == "PARTIAL"  # 94.5 %
    assert judge(_curve(0.01, 0.0009)).verdict == "PASS"  # tiny loss: below 1e-3 absolute
    assert judge(_curve(2.0, 0.9)).verdict == "PARTIAL"  # 55 % drop: learning
    assert judge(_curve(2.0, 1.1)).verdict == "FAIL"  # 45 %: barely moved
    assert judge(_curve(1.0, 1.5)).verdict == "FAIL"  # rose
    assert judge([1e-4, 1e-4, 1e-4]).verdict == "FAIL"  # flat, even if tiny


def test_final_loss_is_robust_to_one_spike():
    losses = _curve(2.0, 0.01) + [5.0]
    assert judge(losses).verdict == "PASS"


def test_nan_fails_and_says_where():
    j = judge([2.0, 1.0, float("nan"), float("nan")])
    assert j.verdict == "FAIL" and "step 3" in j.reason


def test_non_positive_initial_loss_is_not_judged_as_pass():
    assert judge(_curve(-1.0, -5.0)).verdict == "PARTIAL"


def test_initial_loss_vs_ln_c():
    ce = {"loss": "cross_entropy", "classes": 10, "reduction": "mean"}
    assert initial_loss_finding(math.log(10) + 0.3, ce, ["cross_entropy"]) is None
    msg = initial_loss_finding(12.0, ce, ["cross_entropy"])
    assert msg and "ln(10)" in msg and "above" in msg
    assert initial_loss_finding(12.0, ce, ["cross_entropy", "mse_loss"]) is None  # mixed loss
    assert initial_loss_finding(12.0, {**ce, "reduction": "sum"}, ["cross_entropy"]) is None
    assert initial_loss_finding(12.0, None, ["backward"]) is None


def test_sparkline():
    assert sparkline([3.0, 2.0, 1.0, 0.0]) == "█▆▃▁"
    assert len(sparkline(_curve(2.0, 0.0, 500), width=40)) == 40
    assert sparkline([1.0, float("nan")]) == "▁!"


def _report(**kw) -> Report:
    base = {
        "verdict": "FAIL",
        "script": "/w/train.py",
        "steps": 3,
        "steps_requested": 3,
        "losses": [2.0, 1.9, float("inf")],
        "device": "cpu",
        "seconds_per_step": 0.002,
        "peak_memory_bytes": 300 * 2**20,
        "findings": [Finding("TLR02", "the loss is inf at step 3", "/w/train.py", 12, "error", 3)],
    }
    base.update(kw)
    return Report(**base)


def test_json_shape_is_valid_json_with_nonfinite_as_strings():
    data = json.loads(json.dumps(_report().to_json(), allow_nan=False))
    for key in ("verdict", "device", "steps", "losses", "seconds_per_step", "peak_memory_bytes", "findings", "error"):
        assert key in data
    assert data["losses"] == [2.0, 1.9, "inf"]
    assert data["findings"][0] == {
        "code": "TLR02",
        "message": "the loss is inf at step 3",
        "filename": "/w/train.py",
        "row": 12,
        "severity": "error",
        "step": 3,
        "cell": None,
    }


def test_text_and_svg():
    text = render_text(_report(), cwd="/w")
    assert "torchlint overfit: FAIL  train.py" in text
    assert "train.py:12: TLR02 the loss is inf" in text
    svg = render_svg(_report(verdict="PASS", losses=_curve(2.0, 0.01)))
    root = ET.fromstring(svg)
    assert root.tag.endswith("svg")
    lines = [e for e in root.iter() if e.tag.endswith("polyline")]
    assert len(lines) == 1 and len(lines[0].get("points").split()) == 50


def test_error_text_shows_output_tail():
    rep = _report(
        verdict="ERROR",
        error="ValueError: boom",
        error_location={"filename": "/w/train.py", "row": 3},
        output_tail="line1\nTraceback...\nValueError: boom\n",
        findings=[],
    )
    text = render_text(rep, cwd="/w")
    assert "error: ValueError: boom  (train.py:3)" in text
    assert "| ValueError: boom" in text


def _y_labels(svg: str) -> list[str]:
    return [
        e.text
        for e in ET.fromstring(svg).iter()
        if e.tag.endswith("text") and e.get("text-anchor") == "end" and e.text not in ("pass", "50 %")
    ]


def _svg_texts(svg: str) -> list[str]:
    return [e.text for e in ET.fromstring(svg).iter() if e.tag.endswith("text")]


def test_svg_ticks_are_distinct_and_large_labels_fit():
    flat = render_svg(_report(verdict="FAIL", losses=[2.302, 2.301, 2.300, 2.299, 2.298] * 4))
    texts = _svg_texts(flat)
    assert texts[0].startswith("FAIL: train.py")  # the title leads with the verdict
    assert "50 %" in texts and "pass" in texts
    ticks = _y_labels(flat)
    assert len(ticks) >= 3 and len(set(ticks)) == len(ticks), ticks
    big = render_svg(_report(verdict="FAIL", losses=[123456.0, 120000.0, 119000.0]))
    root = ET.fromstring(big)
    labels = [
        e
        for e in root.iter()
        if e.tag.endswith("text") and e.get("text-anchor") == "end" and e.text not in ("pass", "50 %")
    ]
    tick_texts = [e.text for e in labels]
    assert len(set(tick_texts)) == len(tick_texts) >= 3, tick_texts
    for e in labels:  # right-aligned at x: the label's width (~7 px a character) must fit left of it
        assert float(e.get("x")) - 7 * len(e.text) >= 0, (e.text, e.get("x"))


def test_svg_log_scale_for_wide_ranges_and_inf():
    wide = render_svg(_report(verdict="PASS", losses=[10.0 * 0.8**i for i in range(60)]))
    assert "log scale" in _svg_texts(wide)[0]
    assert any(t and t.startswith("1e") for t in _svg_texts(wide))
    inf = render_svg(_report(verdict="FAIL", losses=[float("inf")] * 10))
    assert "loss inf from step 1 (10 of 10 steps)" in _svg_texts(inf)


def test_lr_note_warmup_longer_than_the_check():
    from torchlint.probe.runner import _lr_note

    warm = [6e-4 * (i + 1) / 2000 for i in range(60)]  # nanoGPT's 2000-step warmup, 60 steps checked
    note = _lr_note(warm, base_lr=6e-4)
    assert "near zero for all 60 steps" in note and "3% of the lr the optimizer was built with" in note
    zero_first = [0.0] * 30 + [0.01] * 10
    assert "for 30 of 40 steps (steps 1-30" in _lr_note(zero_first, base_lr=0.01)
    assert _lr_note([0.01] * 40, base_lr=0.01) is None  # constant: nothing to say


def test_fail_says_still_falling_only_for_a_steady_descent():
    from torchlint.probe.verdict import judge

    slow = [2.0 * (1 - 0.2 * i / 60) for i in range(60)]  # -20 % in 60 steps, every step lower
    assert "still falling" in judge(slow).reason and judge(slow).verdict == "FAIL"
    noisy_flat = [1.6 + (0.05 if i % 2 else -0.05) - 0.0005 * i for i in range(40)]
    assert judge(noisy_flat).verdict == "FAIL" and "still falling" not in judge(noisy_flat).reason
