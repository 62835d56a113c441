"""The overfit check on real scripts with real torch (CPU): verdicts and runtime findings."""

from __future__ import annotations

import math
import os
import re
import time

import pytest
from probe_support import SCRIPTS, STEPS, codes, finding, group_gone

pytestmark = pytest.mark.timeout(240)
LN5 = math.log(5)


def _at(f, script: str, row: int) -> None:
    assert f.filename == str(SCRIPTS / script) and f.row == row, (f.filename, f.row, f.message)


# ----------------------------------------------------------------------------- healthy


def test_healthy_mlp_passes(reports):
    r = reports["mlp_ok"]
    assert r.verdict == "PASS", r.summary
    assert r.findings == []
    assert r.steps == STEPS and len(r.losses) == STEPS
    assert abs(r.losses[0] - LN5) < 0.5 and r.losses[-1] < 0.05 * r.losses[0]
    assert r.device == "cpu"
    assert 0 < r.seconds_per_step < 1
    assert r.peak_memory_bytes > 10 * 2**20  # RSS of a process that imported torch
    # the script's own prints went to the captured output, not into the report channel
    assert "training" in r.output_tail


def test_healthy_cnn_with_batchnorm_and_dropout_passes(reports):
    r = reports["cnn_ok"]
    assert r.verdict == "PASS", r.summary
    assert r.findings == []


# ----------------------------------------------------------------------------- seeded bugs


def test_layers_in_plain_list(reports):
    r = reports["plain_list"]
    f = finding(r, "TLR04")
    assert "Linear" in f.message and "optimizer" in f.message
    _at(f, "plain_list.py", 13)  # self.hidden = [nn.Linear(...), ...]


def test_unused_layer_never_gets_gradient(reports):
    f = finding(reports["unused_layer"], "TLR03")
    _at(f, "unused_layer.py", 13)
    assert "TLR04" not in codes(reports["unused_layer"])


def test_learning_rate_zero(reports):
    r = reports["lr_zero"]
    assert r.verdict == "FAIL"
    f = finding(r, "TLR05")
    assert "lr=[0.0]" in f.message
    _at(f, "lr_zero.py", 8)  # the optimizer
    _at(finding(r, "TLR01"), "lr_zero.py", 15)  # loss.backward()


def test_frozen_model(reports):
    r = reports["frozen"]
    assert r.verdict == "ERROR"
    assert "does not require grad" in r.error
    assert r.error_location == {"filename": str(SCRIPTS / "frozen.py"), "row": 16}
    f = finding(r, "TLR05")
    assert "frozen" in f.message
    _at(f, "frozen.py", 8)


def test_eval_mode_dropout_during_training(reports):
    r = reports["eval_dropout"]
    f = finding(r, "TLR06")
    assert "Dropout" in f.message and "eval mode" in f.message
    _at(f, "eval_dropout.py", 7)
    # healthy models with dropout/batchnorm in train mode stay silent
    assert "TLR06" not in codes(reports["cnn_ok"])


def test_train_mode_dropout_during_no_grad_evaluation(reports):
    r = reports["eval_train_mode"]
    f = finding(r, "TLR06")
    assert "train mode" in f.message and "no_grad" in f.message
    _at(f, "eval_train_mode.py", 7)
    assert r.verdict == "PASS"  # the training itself is fine
    assert not any("eval mode" in f.message for f in r.findings)


def test_missing_zero_grad(reports):
    r = reports["no_zero_grad"]
    _at(finding(r, "TLR07"), "no_zero_grad.py", 14)
    # accumulation between steps with zero_grad after step is fine
    assert "TLR07" not in codes(reports["grad_accum"])
    assert "TLR07" not in codes(reports["mlp_ok"])


def test_loss_goes_nan(reports):
    r = reports["nan_loss"]
    assert r.verdict == "FAIL"
    f = finding(r, "TLR02")
    assert re.search(r"(inf|nan) at step \d+", f.message)
    _at(f, "nan_loss.py", 16)  # loss.backward()
    assert "TLR09" not in codes(r)  # gradient-health noise after the blow-up is dropped


def test_softmax_into_cross_entropy_cannot_reach_zero(reports):
    r = reports["softmax_ce"]
    assert r.verdict in ("FAIL", "PARTIAL")
    f = finding(r, "TLR01")
    assert "did not approach zero" in f.message
    assert min(x for x in r.losses) > 1.0  # softmax(p) caps the logit gap: CE >= ~1.46 for 10 classes
    assert "TLR08" not in codes(r)  # its initial loss is ~ln(10)


def test_initial_loss_far_from_ln_c(reports):
    f = finding(reports["bad_init"], "TLR08")
    assert "ln(5)" in f.message
    assert "TLR08" not in codes(reports["mlp_ok"])


def test_dead_relu(reports):
    r = reports["dead_relu"]
    f = next(f for f in r.findings if f.code == "TLR09" and "dead ReLU" in f.message)
    _at(f, "dead_relu.py", 7)


def test_vanishing_gradients(reports):
    r = reports["vanishing"]
    assert any(f.code == "TLR09" and "vanishing" in f.message for f in r.findings)
    assert "TLR05" not in codes(r)  # 1e-13 gradients cannot move float32 weights: not "lr 0"


# ----------------------------------------------------------------------------- training setups


def test_grad_scaler_records_unscaled_loss(reports):
    r = reports["grad_scaler"]
    assert r.verdict == "PASS", r.summary
    assert abs(r.losses[0] - LN5) < 0.5  # not 65536 x
    assert r.findings == []


def test_gradient_accumulation_records_undivided_loss(reports):
    r = reports["grad_accum"]
    assert r.verdict == "PASS", r.summary
    assert abs(r.losses[0] - LN5) < 0.5  # not / 4
    assert r.steps == STEPS


def test_dataloader_workers(reports):
    r = reports["workers"]
    assert r.verdict == "PASS", r.summary
    assert group_gone(r.pid)


def test_torch_compile(reports):
    r = reports["compiled"]
    assert r.verdict == "PASS", (r.summary, r.output_tail[-2000:])
    assert r.findings == []


# ----------------------------------------------------------------------------- errors


def test_hang_times_out_and_kills_the_process_tree(reports):
    r = reports["hangs"]
    assert r.verdict == "ERROR" and "timed out after 15 s" in r.error
    assert r.steps <= 1  # it hangs after its first step (or, on a loaded machine, earlier)
    assert group_gone(r.pid)
    helper = int(re.search(r"helper (\d+)", r.output_tail).group(1))
    with pytest.raises(ProcessLookupError):
        for _ in range(100):
            os.kill(helper, 0)
            time.sleep(0.05)


def test_exception_points_at_user_frame(reports):
    r = reports["raises"]
    assert r.verdict == "ERROR"
    assert r.error == "ValueError: shape mismatch in my model"
    assert r.error_location == {"filename": str(SCRIPTS / "raises.py"), "row": 18}
    assert "Traceback" not in r.output_tail or "shape mismatch" in r.output_tail
    assert r.steps == 2


def test_sys_exit_before_training(reports):
    r = reports["exits"]
    assert r.verdict == "ERROR" and "sys.exit(3)" in r.error
    assert r.error_location == {"filename": str(SCRIPTS / "exits.py"), "row": 7}
    assert "config not found" in r.output_tail


def test_killed_by_signal(reports):
    r = reports["crashes"]
    assert r.verdict == "ERROR" and "SIGKILL" in r.error
    assert r.steps == 1


def test_batches_built_by_hand_are_frozen_by_replay(reports):
    r = reports["no_loader"]  # a fresh random batch each step: only memorisable once frozen
    assert r.verdict == "PASS", r.summary
    assert r.frozen_batch["how"] == "replay"
    assert r.frozen_batch["calls"][0] == "Linear.forward call 1: arg 0 (8, 20) float32"
    assert any("F.cross_entropy call 1: arg 1 (8,) int64" in c for c in r.frozen_batch["calls"])
    assert any("no DataLoader" in n for n in r.notes)


def test_nothing_written_to_the_workspace(reports):
    allowed = {"__pycache__"}  # Python's own bytecode cache for `import _common`
    names = {p.name for p in SCRIPTS.iterdir()} - allowed
    assert all(n.endswith(".py") for n in names), names


def test_batch_mixing_found_by_backprop(reports):
    f = finding(reports["batch_mix"], "TLR10")
    _at(f, "batch_mix.py", 11)  # the model's class, not its super().__init__()
    assert "depends on 19 other sample(s)" in f.message  # row 0 of reshape(20, 32).t() spans 20 samples
    for healthy in ("mlp_ok", "cnn_ok"):  # batch norm couples samples only in train mode
        assert "TLR10" not in codes(reports[healthy])
