from __future__ import annotations

import ast

from ..analysis import edits
from ..analysis.findings import Fix, Severity
from ..analysis.torchapi import Kind
from . import register
from .base import Rule


@register
class ForwardCalledDirectly(Rule):
    """## What it does
    Checks for `model.forward(x)` on a module, outside that module's own methods.

    ## Why is this bad?
    `model(x)` runs `Module.__call__`, which runs the forward and backward hooks and the
    forward pre-hooks registered on the model and its submodules (by `torch.compile`,
    FSDP, quantization, pruning, profilers, `register_forward_hook` users) around
    `forward`. Calling `forward` directly skips all of them, which can silently change
    the result.

    Only receivers known to be `nn.Module`s are judged; `super().forward(x)` and
    `self.forward(x)` in a module's own methods are how a subclass extends its forward.

    ## Example
    ```python
    logits = model.forward(x)
    ```

    ## Use instead
    ```python
    logits = model(x)
    ```

    ## Fix safety
    Safe: calls the module itself with the same arguments.

    ## References
    - [torch.nn.Module.forward](https://pytorch.org/docs/stable/generated/torch.nn.Module.html#torch.nn.Module.forward)
    - [torch.nn.Module.register_forward_hook](https://pytorch.org/docs/stable/generated/torch.nn.Module.html#torch.nn.Module.register_forward_hook)
    """

    code = "TL403"
    name = "forward-called-directly"
    severity = Severity.WARNING
    fix = "safe"

    def check(self, ctx):
        m = ctx.model
        for call in m.calls_named("forward"):
            func = call.func
            if not isinstance(func, ast.Attribute):
                continue
            recv = func.value
            cls = m.enclosing_class(call)
            if _rooted_at_self_or_super(recv) and cls is not None and m.is_module_class(cls):
                continue  # a module's own methods: `super().forward(x)`, `self.block.forward(x)`
            k = m.kind(recv)
            if k is None or k.kind != Kind.MODULE:
                continue
            name = ctx.source.segment(recv)
            fix = Fix(f"Call `{name}(...)` instead", (edits.replace(ctx.source, func, name),), "safe")
            yield ctx.finding(
                self,
                func,
                f"`{name}.forward(...)` skips the module's hooks: call `{name}(...)` instead",
                fix=fix,
            )


def _rooted_at_self_or_super(expr: ast.AST) -> bool:
    while isinstance(expr, (ast.Attribute, ast.Subscript)):
        expr = expr.value
    if isinstance(expr, ast.Name):
        return expr.id == "self"
    return isinstance(expr, ast.Call) and isinstance(expr.func, ast.Name) and expr.func.id == "super"
