from __future__ import annotations

import ast
import re

from ..analysis.findings import Edit, Fix, Severity
from ..analysis.resolve import SemanticModel, dotted
from ..analysis.torchapi import (
    ACTIVATION_FUNCTIONS,
    ACTIVATION_METHODS,
    LOADER_WRAPPERS,
    VALUE_KEEPING_METHODS,
    Kind,
    name_hint,
)
from . import register
from ._helpers import kind_of, loss_calls, reaching_binding
from .base import Rule

# Swapping these changes neither the value nor the gradient: nothing to report.
_SYMMETRIC = {"MSELoss", "L1Loss", "SmoothL1Loss", "HuberLoss", "mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss"}
# These do not take (input, target).
_OTHER_SIGNATURES = {
    "MarginRankingLoss",
    "TripletMarginLoss",
    "TripletMarginWithDistanceLoss",
    "CosineEmbeddingLoss",
    "CTCLoss",
    "GaussianNLLLoss",
    "margin_ranking_loss",
    "triplet_margin_loss",
    "triplet_margin_with_distance_loss",
    "cosine_embedding_loss",
    "ctc_loss",
    "gaussian_nll_loss",
}
_LABEL_NAME = re.compile(
    r"^(y|y_true|y_train|y_batch|batch_y|yb|target|targets|tgt|tgts|label|labels|lbl|lbls|gt|gts|ground_truth|"
    r"true_labels?|[a-z0-9]+_labels?|[a-z0-9]+_targets?|labels?_[a-z0-9]+|targets?_[a-z0-9]+)$",
    re.IGNORECASE,
)
_NOT_LABEL = re.compile(r"pred|out|logit|score|prob|hat|emb|feat|recon|fake|gen", re.IGNORECASE)
_KEEPING = VALUE_KEEPING_METHODS | {"long"}  # a label cast to long is still the label


def _strip(expr: ast.AST) -> ast.AST:
    while isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute) and expr.func.attr in _KEEPING:
        expr = expr.func.value
    return expr


def model_output(model: SemanticModel, expr: ast.AST, depth: int = 0) -> str | None:
    """The module whose output `expr` certainly is (its source text), else None."""
    if depth > 6:
        return None
    expr = _strip(expr)
    if isinstance(expr, ast.Name):
        b = reaching_binding(model, expr)
        if b is None or not isinstance(b.value, ast.expr):
            return None
        return model_output(model, b.value, depth + 1)
    if isinstance(expr, ast.Call):
        if (
            isinstance(expr.func, ast.Attribute)
            and expr.func.attr in ACTIVATION_METHODS
            and model.qualname(expr.func) is None
        ):
            return model_output(model, expr.func.value, depth + 1)
        if model.call_qualname(expr) in ACTIVATION_FUNCTIONS and expr.args:
            return model_output(model, expr.args[0], depth + 1)
        info = kind_of(model, expr.func)
        if info is not None and info.kind == Kind.MODULE:
            return dotted(expr.func) or "the model"
    return None


def _loader_iter(model: SemanticModel, it: ast.AST) -> bool:
    while isinstance(it, ast.Call) and isinstance(it.func, ast.Name) and it.func.id in LOADER_WRAPPERS and it.args:
        it = it.args[0]
    if (
        isinstance(it, ast.Call)
        and model.qualname(it.func) in ("tqdm.tqdm", "tqdm.auto.tqdm", "tqdm.notebook.tqdm")
        and it.args
    ):
        it = it.args[0]
    info = kind_of(model, it)
    if info is not None:
        return info.kind == Kind.DATALOADER
    name = dotted(it)
    return name_hint(name and name.rsplit(".", 1)[-1]) == Kind.DATALOADER


def label_side(model: SemanticModel, expr: ast.AST, depth: int = 0) -> tuple[str, ast.AST | None] | None:
    """Why `expr` is the label side of a batch (text for the message, and where it is bound), else None."""
    if depth > 6:
        return None
    expr = _strip(expr)
    if not isinstance(expr, ast.Name):
        return None
    if _NOT_LABEL.search(expr.id):
        return None
    b = reaching_binding(model, expr)
    if b is not None and isinstance(b.stmt, (ast.For, ast.AsyncFor)) and b.value is None:
        target = b.stmt.target
        # `for x, y in loader` / `for i, (x, y) in enumerate(loader)`: the last name of the batch
        if isinstance(target, ast.Tuple) and isinstance(target.elts[-1], ast.Tuple):
            target = target.elts[-1]
        if (
            isinstance(target, ast.Tuple)
            and len(target.elts) >= 2
            and isinstance(target.elts[-1], ast.Name)
            and target.elts[-1].id == expr.id
            and _loader_iter(model, b.stmt.iter)
        ):
            return f"`{expr.id}` is the label half of the batch", target.elts[-1]
    if b is not None and isinstance(b.value, ast.expr):
        if model_output(model, b.value) is not None:
            return None
        inner = _strip(b.value)
        if isinstance(inner, ast.Name) and inner.id == expr.id:
            # `target = target.to(device)`: look further back
            found = label_side(model, inner, depth + 1) if inner is not expr else None
            if found:
                return found
    if _LABEL_NAME.match(expr.id):
        return f"`{expr.id}` is named like a label", None
    return None


@register
class LossArgumentsSwapped(Rule):
    """## What it does
    Checks for loss calls whose arguments are in the wrong order: `criterion(target, output)`,
    where the first argument is the label side of a batch (bound from the data loader, or named
    `target`/`labels`/`y`...) and the second is a model output.

    ## Why is this bad?
    PyTorch losses take `(input, target)`: the prediction first. Swapped, `cross_entropy` and
    `nll_loss` usually fail on dtypes, but `BCELoss`, `BCEWithLogitsLoss` and `KLDivLoss`
    compute a different, wrong quantity and train towards it silently. Symmetric losses
    (`MSELoss`, `L1Loss`, `SmoothL1Loss`, `HuberLoss`) give the same value and gradients either
    way and are not reported.

    ## Example
    ```python
    output = model(data)
    loss = F.binary_cross_entropy_with_logits(target, output)
    ```

    ## Use instead
    ```python
    output = model(data)
    loss = F.binary_cross_entropy_with_logits(output, target)
    ```

    ## Fix safety
    Safe: swaps the two arguments, which is what the loss's signature asks for.

    ## References
    - [torch.nn.functional: loss functions](https://pytorch.org/docs/stable/nn.functional.html#loss-functions)
    - [torch.nn: loss functions](https://pytorch.org/docs/stable/nn.html#loss-functions)
    """

    code = "TL305"
    name = "loss-arguments-swapped"
    severity = Severity.WARNING
    fix = "safe"

    def check(self, ctx):
        for lc in loss_calls(ctx.model):
            call = lc.call
            if lc.name in _SYMMETRIC or lc.name in _OTHER_SIGNATURES:
                continue
            if len(call.args) != 2 or any(isinstance(a, ast.Starred) for a in call.args):
                continue
            if any(k.arg in ("input", "target") or k.arg is None for k in call.keywords):
                continue
            first, second = call.args
            producer = model_output(ctx.model, second)
            if producer is None or model_output(ctx.model, first) is not None:
                continue
            found = label_side(ctx.model, first)
            if found is None:
                continue
            why, bound = found
            a, b = ctx.source.segment(first), ctx.source.segment(second)
            msg = (
                f"Loss arguments look swapped: losses take `(input, target)`, but {why} and "
                f"`{b}` is the output of `{producer}`"
            )
            fix = Fix(
                f"Swap to `({b}, {a})`", (Edit(ctx.source.span(first), b), Edit(ctx.source.span(second), a)), "safe"
            )
            related = (
                [ctx.related(ctx.model, bound, f"`{ctx.source.segment(bound)}` is bound from the batch here")]
                if bound is not None
                else []
            )
            if lc.defined is not None:
                related.append(ctx.related(lc.defined_in or ctx.model, lc.defined, "the loss is built here"))
            yield ctx.finding(self, call, msg, fix, related)
