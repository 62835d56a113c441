from __future__ import annotations

import ast

from ..analysis import edits
from ..analysis.cfg import Loop
from ..analysis.events import Ev
from ..analysis.findings import Fix, Severity
from . import register
from ._helpers import repaired
from .base import Rule


@register
class MissingZeroGrad(Rule):
    """## What it does
    Checks for training loops that call `backward()` and `optimizer.step()` but never
    clear the gradients (`optimizer.zero_grad()`, `model.zero_grad()` or `p.grad = None`)
    anywhere in the loop.

    ## Why is this bad?
    `backward()` *adds* to `.grad`. Without clearing, every step uses the sum of all
    gradients since the start, so updates grow and point in stale directions; the loss
    still moves, so nothing crashes. A single `zero_grad()` before the loop does not help:
    it runs once. Gradient accumulation (clearing every `k` iterations inside an `if`),
    clearing at the end of the loop, and `set_to_none=True` are all fine and not reported.

    ## Example
    ```python
    optimizer.zero_grad()
    for x, y in loader:
        loss = criterion(model(x), y)
        loss.backward()
        optimizer.step()
    ```

    ## Use instead
    ```python
    for x, y in loader:
        optimizer.zero_grad()
        loss = criterion(model(x), y)
        loss.backward()
        optimizer.step()
    ```

    ## Fix safety
    Safe: inserts `optimizer.zero_grad()` right after `optimizer.step()`, which clears the
    gradients once they have been used, also under gradient accumulation.

    ## References
    - [torch.optim.Optimizer.zero_grad](https://pytorch.org/docs/stable/generated/torch.optim.Optimizer.zero_grad.html)
    - [Zeroing out gradients in PyTorch](https://pytorch.org/tutorials/recipes/recipes/zeroing_out_gradients.html)
    """

    code = "TL101"
    name = "missing-zero-grad"
    severity = Severity.ERROR
    fix = "safe"

    def check(self, ctx):
        for loop in ctx.flow.training_loops():
            if loop.has(Ev.ZERO_GRAD) or loop.has(Ev.NEW_MODEL) or repaired(ctx.model, loop.cfg.scope, loop.node):
                continue
            backward = loop.events(Ev.BACKWARD)
            steps = loop.events(Ev.STEP)
            if not backward or not steps:
                continue
            _b_node, b_event = backward[0]
            s_node, s_event = steps[0]
            opt = s_event.target
            related = [
                ctx.related(ctx.model, s_event.call, f"`{opt or 'optimizer'}.step()` uses the accumulated gradients")
            ]
            if b_event.via is not None:
                related.append(
                    ctx.related(b_event.origin_model, b_event.origin, "backward() inside the called function")
                )
            fix = self._fix(ctx, loop, s_node.stmt, s_event, opt)
            yield ctx.finding(
                self,
                b_event.call,
                f"gradients are never cleared in this loop: `backward()` keeps adding to `.grad` and "
                f"every `{opt or 'optimizer'}.step()` uses the sum of all previous gradients; "
                f"call `{opt or 'optimizer'}.zero_grad()` each iteration",
                fix=fix,
                related=related,
            )

    def _fix(self, ctx, loop: Loop, stmt: ast.stmt, step, opt: str | None) -> Fix | None:
        if opt is None or not step.direct or not isinstance(stmt, ast.stmt):
            return None
        edit = edits.insert_line_after(ctx.source, stmt, f"{opt}.zero_grad()")
        if edit is None:
            return None
        return Fix(f"Insert `{opt}.zero_grad()` after `{opt}.step()`", (edit,), "safe")
