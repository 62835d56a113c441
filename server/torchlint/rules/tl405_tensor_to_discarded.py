from __future__ import annotations

import ast

from ..analysis import edits
from ..analysis.findings import Fix, Severity
from ..analysis.resolve import dotted
from ..analysis.torchapi import CONVERT_METHODS
from . import register
from .base import Rule


@register
class TensorToDiscarded(Rule):
    """## What it does
    Checks for `x.to(device)`, `x.cuda()`, `x.float()` and the other conversions of a tensor
    written as a statement of their own, their result thrown away.

    ## Why is this bad?
    `Module.to()` moves a module's parameters in place, but `Tensor.to()` returns a *new*
    tensor and leaves `x` where it was: the next line still uses the CPU (or float64, or
    int) tensor, and fails with a device or dtype mismatch, or silently runs on the CPU.

    Only values known to be tensors are judged (torch factories and math, loss values, the
    elements of a batch from a `DataLoader`): `model.to(device)` as a statement is right. In
    notebooks, top-level statements are not judged: a cell's last expression is displayed.

    ## Example
    ```python
    for x, y in loader:
        x.to(device)
        y.to(device)
        loss = criterion(model(x), y)
    ```

    ## Use instead
    ```python
    for x, y in loader:
        x = x.to(device)
        y = y.to(device)
        loss = criterion(model(x), y)
    ```

    ## Fix safety
    Safe: assigns the result back to the name (`x = x.to(device)`), which is what the
    statement was meant to do.

    ## References
    - [torch.Tensor.to](https://pytorch.org/docs/stable/generated/torch.Tensor.to.html)
    - [torch.nn.Module.to](https://pytorch.org/docs/stable/generated/torch.nn.Module.html#torch.nn.Module.to)
    """

    code = "TL405"
    name = "tensor-to-discarded"
    severity = Severity.ERROR
    fix = "safe"

    def check(self, ctx):
        m = ctx.model
        notebook = ctx.path.endswith(".ipynb")
        for stmt in m.nodes_of(ast.Expr):
            if notebook and isinstance(m.parent(stmt), ast.Module):
                continue  # a cell's last expression is displayed, not discarded (and cells are not told apart here)
            call = stmt.value
            if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)):
                continue
            method = call.func.attr
            recv = call.func.value
            if method not in CONVERT_METHODS or not m.is_tensor(recv):
                continue
            name = dotted(recv)
            fix = None
            if name is not None:
                text = ctx.source.segment(call)
                fix = Fix(
                    f"Assign the result: `{name} = {text}`",
                    (edits.replace(ctx.source, call, f"{name} = {text}"),),
                    "safe",
                )
            subject = f"`{name}` itself" if name else "the tensor itself"
            yield ctx.finding(
                self,
                call,
                f"the result of `{ctx.source.segment(call)}` is discarded: {subject} is unchanged "
                f"(a tensor is not converted in place, a module is)",
                fix=fix,
            )
