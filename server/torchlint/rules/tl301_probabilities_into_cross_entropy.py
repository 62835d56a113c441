from __future__ import annotations

import ast

from ..analysis.findings import Edit, Fix, Severity
from ..analysis.resolve import dotted
from . import register
from ._helpers import activated_loss_inputs, unwrap_activation_text
from .base import Rule

_CE = {"CrossEntropyLoss", "cross_entropy"}


def remove_activation_fix(ctx, act) -> Fix | None:
    """Edits that remove `act` (only in the analysed file)."""
    if act.model is not ctx.model:
        return None
    src = ctx.source
    if act.how == "ctor" and act.sequential is not None:
        seq = act.sequential
        idx = next((i for i, a in enumerate(seq.args) if a is act.node), None)
        if not idx:  # absent, or the only/first element
            return None
        prev = seq.args[idx - 1]
        span = src.span(act.node)
        start = src.span(prev).end
        return Fix(
            f"Remove `{src.segment(act.node)}` from the `nn.Sequential`",
            (Edit(type(span)(start, span.end), ""),),
            "unsafe",
        )
    text = unwrap_activation_text(act)
    if text is None:
        return None
    func = act.node.func if isinstance(act.node, ast.Call) else None
    name = dotted(func) if func is not None else None
    if isinstance(func, ast.Attribute) and act.model.qualname(func) is None and act.how == "call":
        name = None  # a tensor method: `x.softmax(1)`
    shown = f"`{name}`" if name else f"the `.{act.kind}()`"
    return Fix(f"Remove {shown} and pass the logits", (Edit(src.span(act.node), text),), "unsafe")


@register
class ProbabilitiesIntoCrossEntropy(Rule):
    """## What it does
    Checks for `softmax`, `log_softmax` or `sigmoid` outputs passed to
    `nn.CrossEntropyLoss` / `F.cross_entropy`: at the call, through variables, or as the
    last operation of the model's `forward` or `nn.Sequential`.

    ## Why is this bad?
    `CrossEntropyLoss` expects raw, unnormalized logits: it applies `log_softmax` itself.
    Feeding it probabilities applies softmax twice, which squashes the scores into a narrow
    range: the loss cannot approach zero, gradients shrink and training is slow or stalls,
    without any error. A `sigmoid` before it does the same. A `log_softmax` before it is
    redundant (`log_softmax` is idempotent) and usually means the model was written for
    `NLLLoss`: pick one of the two pairings.

    The rule follows a tensor through assignments that certainly reach the loss, pass-through
    methods (`.view`, `.squeeze`, `.to`...), and into `forward` of a module class in the
    analysed files (every `return` must end in the same activation). Softmax computed only for
    metrics (accuracy, `argmax`) while the logits go to the loss is fine.

    ## Example
    ```python
    criterion = nn.CrossEntropyLoss()
    out = F.softmax(model(x), dim=1)
    loss = criterion(out, y)
    ```

    ## Use instead
    ```python
    criterion = nn.CrossEntropyLoss()
    logits = model(x)
    loss = criterion(logits, y)
    probs = F.softmax(logits, dim=1)  # only for metrics / inference
    ```

    ## Fix safety
    Unsafe: removing the activation changes what the tensor (or the model) returns, and other
    code (metrics, inference, saved checkpoints' users) may rely on probabilities.

    ## References
    - [torch.nn.CrossEntropyLoss](https://pytorch.org/docs/stable/generated/torch.nn.CrossEntropyLoss.html)
    - [torch.nn.functional.cross_entropy](https://pytorch.org/docs/stable/generated/torch.nn.functional.cross_entropy.html)
    """

    code = "TL301"
    name = "probabilities-into-cross-entropy"
    severity = Severity.ERROR
    fix = "unsafe"

    def check(self, ctx):
        for lc, arg, act in activated_loss_inputs(ctx.model, _CE):
            what = {
                "softmax": "probabilities (`softmax` output)",
                "sigmoid": "`sigmoid` output",
                "log_softmax": "log-probabilities (`log_softmax` output)",
            }[act.kind]
            subject = f"`{ctx.source.segment(arg)}`" if isinstance(arg, ast.Name) else "the input"
            tail = (
                "; `log_softmax` twice is redundant: pass logits, or keep `log_softmax` and use `nll_loss`"
                if act.kind == "log_softmax"
                else ""
            )
            msg = f"{lc.label} applies `log_softmax` itself and expects raw logits; {subject} is {what}: {act.where}{tail}"
            related = [ctx.related(act.model, act.node, f"`{act.kind}` applied here")]
            if lc.defined is not None:
                related.append(
                    ctx.related(lc.defined_in or ctx.model, lc.defined, "the cross-entropy loss is built here")
                )
            yield ctx.finding(self, arg, msg, remove_activation_fix(ctx, act), related)
