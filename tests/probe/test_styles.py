"""The overfit check on the training styles people write (issue 12), each run for real on CPU:
a closure step (LBFGS), Lightning's Trainer.fit, accelerate, AMP (bf16 autocast on CPU),
nanoGPT-style get_batch(), a GAN, torch.compile; plus loss floors, warmup and freezing."""

from __future__ import annotations

import math

import pytest
from probe_support import SCRIPTS, STEPS, codes, finding

pytestmark = pytest.mark.timeout(240)


def _at(f, script: str, row: int) -> None:
    assert f.filename == str(SCRIPTS / script) and f.row == row, (f.filename, f.row, f.message)


def _no_errors(r) -> None:
    assert [f for f in r.findings if f.severity == "error"] == [], [(f.code, f.message) for f in r.findings]


# ----------------------------------------------------------------------------- 1 closures


def test_closure_step_lbfgs_passes(reports):
    r = reports["closure_ok"]
    assert r.verdict == "PASS", r.summary
    assert r.findings == []
    assert r.steps == STEPS  # LBFGS evaluates the closure several times per step: steps, not calls


def test_closure_step_keeps_registration_and_mode_findings(reports):
    r = reports["closure_bug"]
    f = finding(r, "TLR04")
    _at(f, "closure_bug.py", 14)
    assert "2 layers'" in f.message and "4 tensors" in f.message  # both layers built on that line
    _at(finding(r, "TLR06"), "closure_bug.py", 15)  # self.drop = nn.Dropout(0.2)
    assert "TLR09" not in codes(r)


def test_lightning_trainer_fit_passes(reports):
    r = reports["lightning_ok"]
    assert r.verdict == "PASS", (r.summary, r.output_tail[-1500:])
    assert r.findings == []


def test_lightning_plain_list_and_eval_helper_are_found(reports):
    r = reports["lightning_bug"]
    _at(finding(r, "TLR04"), "lightning_bug.py", 15)  # self.blocks = [nn.Linear(64, 64)]
    f = finding(r, "TLR06")
    assert "Dropout" in f.message and "eval mode" in f.message
    assert "TLR09" not in codes(r)


# ----------------------------------------------------------------------------- 2 hand-made batches


def test_get_batch_is_frozen_by_replay(reports):
    r = reports["get_batch_ok"]
    assert r.verdict == "PASS", r.summary
    assert r.frozen_batch["how"] == "replay"
    assert r.frozen_batch["calls"] == ["TinyLM.forward call 1: arg 0 (8, 8) int64, arg 1 (8, 8) int64"]
    assert r.frozen_batch["replayed"] > 0 and r.frozen_batch["mismatched"] == 0
    assert r.findings == []


def test_broadcast_warning_is_the_reason_of_a_fail(reports):
    r = reports["get_batch_bug"]  # tensor slicing, target (32,) against output (32, 1)
    assert r.verdict == "FAIL", r.summary
    cause = next(f for f in r.findings if f.code == "TLR01" and "broadcast" in f.message)
    _at(cause, "get_batch_bug.py", 16)  # loss = criterion(model(xb), yb)
    assert "torch.Size([32])" in cause.message
    assert r.frozen_batch["how"] == "replay"
    assert any("MSELoss.forward call 1: arg 1 (32,) float32" in c for c in r.frozen_batch["calls"])


def test_dataloader_scripts_say_so(reports):
    assert reports["mlp_ok"].frozen_batch == {"how": "dataloader", "calls": []}


# ----------------------------------------------------------------------------- 3 several optimizers


def test_gan_gets_an_adversarial_verdict_and_no_false_tlr07(reports):
    r = reports["gan_ok"]
    assert r.adversarial
    assert r.verdict == "PASS" and "adversarial" in r.summary, r.summary
    assert "TLR07" not in codes(r)
    assert [c["optimizer"] for c in r.curves] == ["opt_d", "opt_g"]
    d, g = (c["losses"] for c in r.curves)
    assert len(d) == STEPS and len(g) == STEPS - 1  # the run stops at the first optimizer's N-th step
    assert abs(d[0] - math.log(2)) < 0.2  # D's own loss (0.5 * (real + fake)), not mixed with G's
    assert r.losses == d


def test_gan_missing_zero_grad_of_one_player(reports):
    r = reports["gan_bug"]
    tlr07 = [f for f in r.findings if f.code == "TLR07"]
    # named as the script names it (and as the loss curves are), not `Adam #1`
    assert len(tlr07) == 1 and "missing opt_d.zero_grad()" in tlr07[0].message, [f.message for f in tlr07]
    assert r.verdict == "FAIL" and "TLR07" in r.summary


# ----------------------------------------------------------------------------- accelerate, AMP, compile


def test_accelerate(reports):
    r = reports["accelerate_ok"]
    assert r.verdict == "PASS", r.summary
    assert r.findings == []
    bug = reports["accelerate_bug"]
    _at(finding(bug, "TLR07"), "accelerate_bug.py", 15)  # accelerator.backward(loss)
    if bug.verdict == "PASS":  # one batch is memorised in spite of it: the summary says so
        assert "but TLR07 found a bug" in bug.summary, bug.summary


def test_bf16_autocast_on_cpu(reports):
    r = reports["amp_ok"]
    assert r.verdict == "PASS", r.summary
    assert r.findings == []


def test_grad_scaler_without_scaler_step(reports):
    r = reports["amp_bug"]
    assert r.verdict == "FAIL"
    f = next(f for f in r.findings if f.code == "TLR02" and "scaler.step" in f.message)
    _at(f, "amp_bug.py", 18)  # opt.step()


def test_compiled_model_mixing_the_batch_points_at_the_class(reports):
    r = reports["compiled_bug"]
    _at(finding(r, "TLR10"), "compiled_bug.py", 12)  # class Mixer, not torch.compile(...)
    assert finding(r, "TLR10").step == r.steps  # an end-of-run finding: the last step, not N + 1


# ----------------------------------------------------------------------------- 5 floors, warmup, 4 freezing


def test_label_smoothing_is_judged_against_its_floor(reports):
    r = reports["smoothing_ok"]
    assert r.loss_floor == pytest.approx(0.5003, abs=1e-3)
    assert r.verdict == "PASS", r.summary
    assert min(r.losses) > r.loss_floor  # it never gets below the floor, yet passes
    assert "floor" in r.summary


def test_warmup_at_zero_is_reported_with_the_steps(reports):
    r = reports["warmup_zero"]
    assert r.lrs[:30] == [0.0] * 30 and r.lrs[-1] == pytest.approx(0.01)
    assert r.verdict != "PASS"
    assert "near zero" in finding(r, "TLR01").message and "30 of 40 steps" in finding(r, "TLR01").message


def test_partly_frozen_model_names_the_frozen_layers(reports):
    r = reports["partly_frozen"]
    assert r.verdict == "FAIL"
    f = finding(r, "TLR05")
    _at(f, "partly_frozen.py", 8)  # body = nn.Sequential(...)
    assert "2 Linear layers are frozen" in f.message and "5,504 values" in f.message
    assert f.severity == "information"
    # the head's weight is frozen too, while its bias trains: named with the tensor
    head = [g for g in r.findings if g.code == "TLR05" and g.row == 9]
    assert len(head) == 1 and "the `weight` of Linear is frozen" in head[0].message, r.findings
    assert "1 tensor, 320 values" in head[0].message
    for healthy in ("mlp_ok", "closure_ok"):
        assert "TLR05" not in codes(reports[healthy])


# ----------------------------------------------------------------------------- 7 timeouts


def test_timeout_after_convergence_keeps_the_verdict_marked_partial(reports):
    r = reports["slow"]  # 0.1 s a step, 1000 steps asked, killed after 40 s
    assert r.partial_run and r.error is None
    assert 10 <= r.steps < 1000
    assert r.verdict == "PASS", r.summary
    assert "partial: timed out after 40 s" in r.summary
    assert any("the verdict is from the" in n for n in r.notes)
    # the child reported before the kill (SIGTERM): what only the end message carries is there
    assert r.frozen_batch == {"how": "dataloader", "calls": []}


def test_layer_built_inside_forward(reports):
    r = reports["layer_in_forward"]
    f = finding(r, "TLR04")
    _at(f, "layer_in_forward.py", 16)  # return nn.Linear(32, 5)(h)
    assert "a new layer is built at every call" in f.message
    assert "2 tensors, 165 values" in f.message  # weight and bias once, not once per step
    assert r.verdict != "PASS"
