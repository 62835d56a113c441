from __future__ import annotations

import ast

from ..analysis.findings import Edit, Fix, Severity
from . import register
from .base import Rule


@register
class RequiresGradTypo(Rule):
    """## What it does
    Checks for assignments to `.require_grad` (without the `s`) on anything but the class's own
    `self`, e.g. `param.require_grad = False` (TorchFix `TOR002`).

    ## Why is this bad?
    Tensors and parameters accept any new attribute, so the typo raises nothing: it creates
    a new, meaningless attribute and `requires_grad` keeps its old value. Layers meant to be
    frozen keep training (or the other way around), silently.

    An attribute of the class's own instance (`self.require_grad = flag` in `__init__`) is a
    setting that class may read itself, and is not reported.

    ## Example
    ```python
    for p in model.backbone.parameters():
        p.require_grad = False
    ```

    ## Use instead
    ```python
    for p in model.backbone.parameters():
        p.requires_grad = False
    ```

    ## Fix safety
    Safe: it sets the attribute the code meant to set. (It changes which parameters train,
    which is what the line was written for.)

    ## References
    - [torch.Tensor.requires_grad](https://pytorch.org/docs/stable/generated/torch.Tensor.requires_grad.html)
    - [TorchFix TOR002](https://github.com/meta-pytorch/torchfix#tor002)
    """

    code = "TL601"
    name = "requires-grad-typo"
    severity = Severity.ERROR
    fix = "safe"

    def check(self, ctx):
        for node in ctx.model.nodes_of(ast.Attribute):
            if node.attr != "require_grad" or not isinstance(node.ctx, ast.Store):
                continue
            if isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"):
                continue  # the class's own setting, not a tensor's flag
            src = ctx.source
            end = src.span(node).end
            name_span = type(src.span(node))(type(end)(end.line, end.column - len("require_grad")), end)
            fix = Fix("Use `requires_grad`", (Edit(name_span, "requires_grad"),), "safe")
            msg = "`require_grad` is a typo of `requires_grad`: this sets a new attribute and leaves gradients as they were"
            yield ctx.finding(self, name_span, msg, fix)
