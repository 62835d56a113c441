from __future__ import annotations

import ast

from ..analysis import edits
from ..analysis.events import Ev
from ..analysis.findings import Fix, Severity
from . import register
from .base import Rule


@register
class ZeroGradBeforeStep(Rule):
    """## What it does
    Checks for `zero_grad()` running after `backward()` and before `optimizer.step()`
    in the same iteration.

    ## Why is this bad?
    The gradients that `backward()` just computed are wiped before the optimizer reads
    them: `step()` sees zeros (or `None`), and the model does not learn at all, or only
    through weight decay and momentum.

    ## Example
    ```python
    for x, y in loader:
        loss = criterion(model(x), y)
        loss.backward()
        optimizer.zero_grad()
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
    Safe: moves the `zero_grad()` call to just before the `backward()` statement.

    ## References
    - [torch.optim.Optimizer.zero_grad](https://pytorch.org/docs/stable/generated/torch.optim.Optimizer.zero_grad.html)
    """

    code = "TL102"
    name = "zero-grad-before-step"
    severity = Severity.ERROR
    fix = "safe"

    @staticmethod
    def _between(cfg, z_node) -> tuple[list[int], list[int]] | None:
        """(backward nodes, step nodes): a backward reaches this zero_grad with no step in
        between, and the zero_grad reaches a step before any new backward; None if not."""
        it = cfg.iteration(z_node)
        z = z_node.id
        if z in it.backs or z in it.steps:
            # the zero_grad's own statement also runs a backward or a step (rare): ask for it alone
            around = cfg.training_step_around(z_node)
            if around is None:
                return None
            region, leave, backs, steps = around
            stop = lambda n: n.id in steps or n.id in backs
            before = [b for b in backs if z in cfg.reachable([b], region, stop, leave)]
            after = cfg.reachable([z], region, stop, leave) & steps
            return (before, list(after)) if before and after else None
        if not it.backs or not it.steps:
            return None
        # the same questions for every zero_grad of the iteration at once (one pass each)
        b = it.reached_from("backward", ("backward", "step")).get(z)
        s = it.reaching("step", ("backward", "step")).get(z)
        return ([b], [s]) if b is not None and s is not None else None

    def check(self, ctx):
        for cfg in ctx.flow.all_cfgs(mentioning=("zero_grad", ".grad")):
            for z_node, z_event in cfg.direct_events(Ev.ZERO_GRAD):
                found = self._between(cfg, z_node)
                if found is None:
                    continue
                b_node, b_event = cfg.first_event(found[0], Ev.BACKWARD)
                _s_node, s_event = cfg.first_event(found[1], Ev.STEP)
                fix = None
                if isinstance(z_node.stmt, ast.Expr):
                    moved = edits.move_before(ctx.source, z_node.stmt, b_node.stmt)
                    if moved:
                        fix = Fix("Move `zero_grad()` before `backward()`", moved, "safe")
                yield ctx.finding(
                    self,
                    z_event.call,
                    f"`{ctx.source.segment(z_event.call)}` runs after `backward()` and before "
                    f"`{ctx.source.segment(s_event.call)}`: the step sees cleared gradients",
                    fix=fix,
                    related=[
                        ctx.related(ctx.model, b_event.call, "the gradients computed here are cleared"),
                        ctx.related(ctx.model, s_event.call, "before this step uses them"),
                    ],
                )
