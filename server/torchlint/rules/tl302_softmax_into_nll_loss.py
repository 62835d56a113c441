from __future__ import annotations

import ast

from ..analysis.findings import Edit, Fix, Severity
from . import register
from ._helpers import activated_loss_inputs
from .base import Rule

_NLL = {"NLLLoss", "nll_loss"}


def log_softmax_fix(ctx, act) -> Fix | None:
    if act.model is not ctx.model:
        return None
    src = ctx.source
    func = act.node.func
    if act.how == "call" and isinstance(func, ast.Attribute) and func.attr == "softmax":
        # F.softmax / torch.softmax / x.softmax -> log_softmax (same module, same signature)
        start = src.span(func).end
        span = type(src.span(func))(type(start)(start.line, start.column - len("softmax")), start)
        return Fix("Use `log_softmax` instead of `softmax`", (Edit(span, "log_softmax"),), "unsafe")
    ctor = act.node if act.how == "ctor" else None
    if act.how == "module_call":
        ctor = act.ctor
    if not isinstance(ctor, ast.Call):
        return None
    f = ctor.func
    if isinstance(f, ast.Attribute) and f.attr == "Softmax":
        start = src.span(f).end
        span = type(src.span(f))(type(start)(start.line, start.column - len("Softmax")), start)
        return Fix("Use `LogSoftmax` instead of `Softmax`", (Edit(span, "LogSoftmax"),), "unsafe")
    return None


@register
class SoftmaxIntoNllLoss(Rule):
    """## What it does
    Checks for `softmax` outputs (probabilities, not `log_softmax`) passed to `nn.NLLLoss` /
    `F.nll_loss`: at the call, through variables, or as the last operation of the model's
    `forward` or `nn.Sequential`.

    ## Why is this bad?
    `NLLLoss` expects log-probabilities: it only picks `-input[target]`. Given probabilities
    in `[0, 1]`, the loss is `-p[target]`, which is bounded, has the wrong gradients and does
    not train a classifier properly (it does not punish confident mistakes); nothing crashes.
    `torch.log(softmax(x))` is log-probabilities (numerically worse than `log_softmax`, but
    correct) and is not reported.

    ## Example
    ```python
    output = F.softmax(self.fc(x), dim=1)  # in forward
    loss = F.nll_loss(output, target)
    ```

    ## Use instead
    ```python
    output = F.log_softmax(self.fc(x), dim=1)
    loss = F.nll_loss(output, target)
    ```

    ## Fix safety
    Unsafe: the tensor (or the model's output) changes from probabilities to
    log-probabilities, and other users of it (metrics, inference code) may expect probabilities.

    ## References
    - [torch.nn.NLLLoss](https://pytorch.org/docs/stable/generated/torch.nn.NLLLoss.html)
    - [torch.nn.functional.log_softmax](https://pytorch.org/docs/stable/generated/torch.nn.functional.log_softmax.html)
    """

    code = "TL302"
    name = "softmax-into-nll-loss"
    severity = Severity.ERROR
    fix = "unsafe"

    def check(self, ctx):
        for lc, arg, act in activated_loss_inputs(ctx.model, _NLL):
            if act.kind != "softmax":
                continue
            subject = f"`{ctx.source.segment(arg)}`" if isinstance(arg, ast.Name) else "the input"
            msg = f"{lc.label} expects log-probabilities; {subject} is probabilities: {act.where}; use `log_softmax`"
            related = [ctx.related(act.model, act.node, "`softmax` applied here")]
            if lc.defined is not None:
                related.append(ctx.related(lc.defined_in or ctx.model, lc.defined, "the NLL loss is built here"))
            yield ctx.finding(self, arg, msg, log_softmax_fix(ctx, act), related)
