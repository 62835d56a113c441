from __future__ import annotations

import ast

from ..analysis.events import Ev
from ..analysis.findings import Severity
from . import register
from ._helpers import reaching_binding
from .base import Rule


@register
class BackwardWithoutGrad(Rule):
    """## What it does
    Checks for `backward()`, or a call of a function that runs one, inside
    `torch.no_grad()` / `torch.inference_mode()` / `set_grad_enabled(False)` (as a `with`
    block or a decorator), when the loss is computed there too.

    ## Why is this bad?
    Under `no_grad` no autograd graph is recorded: the loss does not require gradients,
    and `backward()` raises `RuntimeError: element 0 of tensors does not require grad and
    does not have a grad_fn` (or, in a helper that swallows errors, the model never learns).
    A `with torch.enable_grad():` inside the block turns gradients back on and is fine.

    ## Example
    ```python
    @torch.no_grad()
    def train_step(model, x, y):
        loss = criterion(model(x), y)
        loss.backward()
        optimizer.step()
    ```

    ## Use instead
    ```python
    def train_step(model, x, y):
        loss = criterion(model(x), y)
        loss.backward()
        optimizer.step()
    ```

    ## Fix safety
    No fix: where gradients should be turned back on is a decision for the author.

    ## References
    - [torch.no_grad](https://pytorch.org/docs/stable/generated/torch.no_grad.html)
    - [Locally disabling gradient computation](https://pytorch.org/docs/stable/notes/autograd.html#locally-disabling-gradient-computation)
    """

    code = "TL107"
    name = "backward-without-grad"
    severity = Severity.ERROR

    def check(self, ctx):
        flow = ctx.flow
        seen = set()
        # scopes whose text switches gradients off, and those decorated to (the decorator is
        # above the `def`, outside the scope's text)
        cfgs = {id(c.scope): c for c in flow.all_cfgs(mentioning=("no_grad", "inference_mode", "set_grad_enabled"))}
        for scope in flow.scopes():
            if id(scope) not in cfgs and scope.body and flow.in_no_grad(scope.body[0]):
                cfgs[id(scope)] = flow.cfg(scope)
        for cfg in cfgs.values():
            for node in cfg.nodes:
                for e in node.events:
                    if e.kind != Ev.BACKWARD or id(e.call) in seen or not flow.in_no_grad(e.call):
                        continue
                    if e.direct:
                        if not _loss_built_without_grad(ctx, e.call):
                            continue
                        what = f"`{ctx.source.segment(e.call)}` runs"
                        related = []
                    else:
                        if not _loss_built_in_callee(e):
                            continue
                        what = f"`{ctx.source.segment(e.call)}` runs `backward()`"
                        related = [ctx.related(e.origin_model, e.origin, "the backward pass")]
                    seen.add(id(e.call))
                    yield ctx.finding(
                        self,
                        e.call,
                        f"{what} with gradients disabled: the loss has no autograd graph and `backward()` fails",
                        related=related,
                    )


def _loss_receiver(call: ast.Call) -> ast.AST | None:
    func = call.func
    if isinstance(func, ast.Attribute) and func.attr == "backward":
        recv = func.value
        # `scaler.scale(loss).backward()`, `(loss / accum).backward()`: the loss inside
        while True:
            if (
                isinstance(recv, ast.Call)
                and isinstance(recv.func, ast.Attribute)
                and recv.func.attr == "scale"
                and recv.args
            ):
                recv = recv.args[0]
            elif isinstance(recv, ast.BinOp) and isinstance(recv.right, ast.Constant):
                recv = recv.left
            else:
                return recv
    if call.args:
        return call.args[0]  # torch.autograd.backward(loss)
    return None


def _loss_built_without_grad(ctx, call: ast.Call) -> bool:
    """The loss that `call` back-propagates is computed under the same disabled grad mode
    (computed right there, or bound by an assignment that is under no_grad too)."""
    recv = _loss_receiver(call)
    if recv is None:
        return False
    if isinstance(recv, ast.Call):
        return True  # `criterion(model(x), y).backward()`: computed here
    if not isinstance(recv, ast.Name):
        return False
    b = reaching_binding(ctx.model, recv)
    if (
        b is None
        or not isinstance(b.stmt, (ast.Assign, ast.AnnAssign, ast.AugAssign))
        or not isinstance(b.value, ast.expr)
    ):
        return False
    if not isinstance(b.value, (ast.Call, ast.BinOp)):
        return False
    return ctx.flow.in_no_grad(b.stmt)


def _loss_built_in_callee(e) -> bool:
    """A helper called under no_grad whose backward's loss is computed inside it (not a
    parameter: a loss built outside the block has its graph)."""
    origin = e.origin
    model = e.origin_model
    if not isinstance(origin, ast.Call) or model is None:
        return False
    recv = _loss_receiver(origin)
    if isinstance(recv, ast.Call):
        return True
    if not isinstance(recv, ast.Name):
        return False
    b = reaching_binding(model, recv)
    return (
        b is not None and isinstance(b.stmt, (ast.Assign, ast.AnnAssign)) and isinstance(b.value, (ast.Call, ast.BinOp))
    )
