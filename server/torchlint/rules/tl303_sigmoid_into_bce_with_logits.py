from __future__ import annotations

import ast

from ..analysis.findings import Severity
from . import register
from ._helpers import activated_loss_inputs
from .base import Rule
from .tl301_probabilities_into_cross_entropy import remove_activation_fix

_BCE_LOGITS = {"BCEWithLogitsLoss", "binary_cross_entropy_with_logits"}


@register
class SigmoidIntoBceWithLogits(Rule):
    """## What it does
    Checks for `sigmoid` outputs passed to `nn.BCEWithLogitsLoss` /
    `F.binary_cross_entropy_with_logits`: at the call, through variables, or as the last
    operation of the model's `forward` or `nn.Sequential`.

    ## Why is this bad?
    `BCEWithLogitsLoss` applies `sigmoid` itself. Given probabilities, it computes
    `sigmoid(sigmoid(x))`, which lies in `[0.5, 0.73]`: the loss can never approach zero for
    negative targets, gradients are tiny, and the model trains badly or not at all, with no
    error. Predictions thresholded at 0.5 after the model's sigmoid are also skewed.

    The rule follows a tensor through assignments that certainly reach the loss, pass-through
    methods (`.view`, `.squeeze`, `.to`...), and into `forward` of a module class in the
    analysed files (every `return` must end in `sigmoid`). A `sigmoid` computed only for
    metrics while the logits go to the loss is fine.

    ## Example
    ```python
    criterion = nn.BCEWithLogitsLoss()
    loss = criterion(torch.sigmoid(model(x)), y)
    ```

    ## Use instead
    ```python
    criterion = nn.BCEWithLogitsLoss()
    logits = model(x)
    loss = criterion(logits, y)
    probs = torch.sigmoid(logits)  # only for metrics / inference
    ```

    ## Fix safety
    Unsafe: removing the sigmoid changes what the tensor (or the model) returns, and other code
    (metrics, thresholds, inference) may rely on probabilities.

    ## References
    - [torch.nn.BCEWithLogitsLoss](https://pytorch.org/docs/stable/generated/torch.nn.BCEWithLogitsLoss.html)
    - [torch.nn.functional.binary_cross_entropy_with_logits](https://pytorch.org/docs/stable/generated/torch.nn.functional.binary_cross_entropy_with_logits.html)
    """

    code = "TL303"
    name = "sigmoid-into-bce-with-logits"
    severity = Severity.ERROR
    fix = "unsafe"

    def check(self, ctx):
        for lc, arg, act in activated_loss_inputs(ctx.model, _BCE_LOGITS):
            if act.kind != "sigmoid":
                continue
            subject = f"`{ctx.source.segment(arg)}`" if isinstance(arg, ast.Name) else "the input"
            msg = f"{lc.label} applies `sigmoid` itself and expects raw logits; {subject} is `sigmoid` output: {act.where}"
            related = [ctx.related(act.model, act.node, "`sigmoid` applied here")]
            if lc.defined is not None:
                related.append(ctx.related(lc.defined_in or ctx.model, lc.defined, "the loss is built here"))
            yield ctx.finding(self, arg, msg, remove_activation_fix(ctx, act), related)
