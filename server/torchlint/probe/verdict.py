"""The verdict of an overfit check, from the recorded losses alone (pure, no torch).

Why these thresholds (longer version in docs/overfit.md): a model that is wired correctly
can memorise one fixed batch, so the loss must fall close to its floor (0 for the usual
losses). Karpathy's recipe asks for "the lowest achievable loss (e.g. zero)"; Lightning's
``overfit_batches`` leaves the judgement to the user; we turn it into numbers:

* PASS: the final loss is at most 5 % of the initial loss (a 95 % drop), or below an absolute
  1e-3 (tiny initial losses, e.g. MSE on small targets), and it did drop.
* PARTIAL: it dropped by at least 50 %: the loop learns, but did not memorise the batch in the
  steps given (too few steps, a small learning rate, heavy regularisation, label smoothing).
* FAIL: less than 50 % drop, a rising loss, or NaN/Inf.

"Final" is the median of the last five step losses, so one noisy spike does not decide.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Any

PASS_FRACTION = 0.05
PASS_ABSOLUTE = 1e-3
PARTIAL_FRACTION = 0.5
FINAL_WINDOW = 5
# "at a plateau": the last fifth of the run fell by less than 2 % of the whole drop so far
PLATEAU_FRACTION = 0.02
MIN_STEPS = 2
# TLR08: initial cross-entropy should be near ln(C); flag outside ln(C) +- max(50 %, 0.5).
INIT_LOSS_REL_BAND = 0.5
INIT_LOSS_ABS_BAND = 0.5


@dataclass
class Judgement:
    verdict: str  # PASS | PARTIAL | FAIL
    initial: float | None
    final: float | None
    drop: float | None  # relative drop, 0.95 = 95 %
    reason: str


def final_loss(losses: list[float | None]) -> float | None:
    tail = [x for x in losses[-FINAL_WINDOW:] if x is not None]
    return statistics.median(tail) if tail else None


def smoothing_floor(classes: int, smoothing: float) -> float:
    """The lowest cross-entropy reachable with label smoothing `smoothing` over `classes`
    classes: the entropy of the smoothed target ((1 - e + e/C) on the label, e/C elsewhere);
    0.500 for C = 10, e = 0.1."""
    if classes < 2 or not 0 < smoothing <= 1:
        return 0.0
    on = 1 - smoothing + smoothing / classes
    off = smoothing / classes
    return -(on * math.log(on) + (classes - 1) * off * math.log(off))


def trend(losses: list[float | None]) -> str:
    """'still falling' or 'at a plateau': the last fifth of the run against the fifth before."""
    values = [x for x in losses if x is not None and math.isfinite(x)]
    n = max(FINAL_WINDOW, len(values) // 5)
    if len(values) < 2 * n:
        return "still falling"
    before = statistics.median(values[-2 * n : -n])
    last = statistics.median(values[-n:])
    span = max(values[0] - min(values), 1e-12)
    return "still falling" if before - last > PLATEAU_FRACTION * span else "at a plateau"


def _falling_steadily(losses: list[float | None]) -> bool:
    """For a FAIL: the last fifth of the run is below the fifth before it by more than 2 % of
    the initial loss (a slow but real descent, not noise around a flat line)."""
    values = [x for x in losses if x is not None and math.isfinite(x)]
    n = max(FINAL_WINDOW, len(values) // 5)
    if len(values) < 2 * n or values[0] <= 0:
        return False
    return statistics.median(values[-2 * n : -n]) - statistics.median(values[-n:]) > PLATEAU_FRACTION * values[0]


def judge(losses: list[float | None], floor: float = 0.0, floor_reason: str = "") -> Judgement:
    """Verdict for a loss curve with at least one step (ERROR is decided by the runner).

    `floor`: the lowest loss the objective allows (label smoothing); the drop is measured
    towards it instead of towards 0."""
    values = [x for x in losses if x is not None]
    if not values:
        return Judgement("FAIL", None, None, None, "no loss value was recorded for any step")
    initial = values[0]
    final = final_loss(losses)
    bad = next((i for i, x in enumerate(losses) if x is not None and not math.isfinite(x)), None)
    if bad is not None:
        return Judgement("FAIL", initial, final, None, f"the loss became {losses[bad]} at step {bad + 1}")
    assert final is not None
    if floor >= initial:
        floor = 0.0
    if initial - floor <= 0:
        return Judgement(
            "PARTIAL",
            initial,
            final,
            None,
            f"the initial loss {initial:.4g} is not positive; the check expects a loss bounded below by 0",
        )
    drop = (initial - final) / (initial - floor)
    above = final - floor
    target = f"its floor {floor:.4g} ({floor_reason})" if floor > 0 else "~0"
    summary = f"loss {initial:.4g} -> {final:.4g} ({(final - initial) / initial:+.1%})"
    if floor > 0:
        summary += f", {drop:.1%} of the way to {target}"
    if final < initial and (above <= PASS_FRACTION * (initial - floor) or above <= PASS_ABSOLUTE):
        return Judgement("PASS", initial, final, drop, f"{summary}: the model memorised one batch")
    if above <= PARTIAL_FRACTION * (initial - floor):
        how = trend(losses)
        hint = (
            "more steps or a higher learning rate?"
            if how == "still falling"
            else f"at a plateau {above:.3g} above {target}: capacity, regularisation or the loss setup?"
        )
        return Judgement(
            "PARTIAL",
            initial,
            final,
            drop,
            f"{summary}: learning, but not to {target} in {len(losses)} steps; {how} ({hint})",
        )
    if final > initial:
        return Judgement("FAIL", initial, final, drop, f"{summary}: the loss rose")
    slow = " (still falling: a small learning rate or too few steps?)" if _falling_steadily(losses) else ""
    return Judgement("FAIL", initial, final, drop, f"{summary}: the loss barely moved on one repeated batch{slow}")


def initial_loss_finding(
    initial: float | None, class_loss: dict[str, Any] | None, sources: list[str] | None
) -> str | None:
    """TLR08 message when the initial classification loss is far from ln(C), else None."""
    if initial is None or not class_loss or not math.isfinite(initial):
        return None
    name = class_loss.get("loss")
    classes = int(class_loss.get("classes") or 0)
    if classes < 2 or class_loss.get("reduction", "mean") != "mean" or sources != [name]:
        return None
    expected = math.log(classes)
    band = max(INIT_LOSS_REL_BAND * expected, INIT_LOSS_ABS_BAND)
    if abs(initial - expected) <= band:
        return None
    direction = "above" if initial > expected else "below"
    hint = (
        "the model is confidently wrong at initialisation: check the last layer's init, the "
        "input scaling, or probabilities fed to a loss that expects logits"
        if initial > expected
        else "the model is right before training: check for leaked labels or an easy batch"
    )
    return (
        f"initial {name} loss {initial:.4g} is far {direction} ln({classes}) = {expected:.3f} "
        f"expected for {classes} classes at initialisation; {hint}"
    )
