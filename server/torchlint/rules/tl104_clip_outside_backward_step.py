from __future__ import annotations

import ast

from ..analysis import edits
from ..analysis.events import Ev
from ..analysis.findings import Fix, Severity
from . import register
from .base import Rule


@register
class ClipOutsideBackwardStep(Rule):
    """## What it does
    Checks for gradient clipping (`clip_grad_norm_`, `clip_grad_value_`) that runs
    before `backward()` or after `optimizer.step()` in the same iteration.

    ## Why is this bad?
    Clipping changes `.grad` in place. Before `backward()` it clips the previous (or
    cleared) gradients, after `step()` it clips gradients the optimizer already used:
    either way the update is unclipped, and exploding gradients go through.

    ## Example
    ```python
    loss.backward()
    optimizer.step()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    ```

    ## Use instead
    ```python
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    ```

    ## Fix safety
    Safe: moves the clipping statement to just before the optimizer step.

    ## References
    - [torch.nn.utils.clip_grad_norm_](https://pytorch.org/docs/stable/generated/torch.nn.utils.clip_grad_norm_.html)
    """

    code = "TL104"
    name = "clip-outside-backward-step"
    severity = Severity.ERROR
    fix = "safe"

    @staticmethod
    def _where(cfg, c_node) -> tuple[str, list[int]] | None:
        """Where the clip runs when not between a backward and a step, and the step nodes."""
        it = cfg.iteration(c_node)
        c = c_node.id
        if c in it.backs or c in it.steps:
            # the clip's own statement also runs a backward or a step (rare): ask for it alone
            around = cfg.training_step_around(c_node)
            if around is None:
                return None
            region, leave, backs, steps = around
            between = cfg.reachable([c], region, lambda n: n.id in backs, leave) & steps and any(
                c in cfg.reachable([b], region, lambda n: n.id in steps, leave) for b in backs
            )
            if between:
                return None
            if cfg.reachable([c], region, lambda n: False, leave) & backs:
                return "before `backward()`", list(steps)
            if any(c in cfg.reachable([s], region, lambda n: False, leave) for s in steps):
                return "after the optimizer step", list(steps)
            return None
        if not it.backs or not it.steps:
            return None
        # the same questions for every clip of the iteration at once (one pass each)
        if c in it.reaching("step", ("backward",)) and c in it.reached_from("backward", ("step",)):
            return None
        if c in it.reaching("backward"):
            return "before `backward()`", [it.first("step")]
        if c in it.reached_from("step"):
            return "after the optimizer step", [it.first("step")]
        return None

    def check(self, ctx):
        for cfg in ctx.flow.all_cfgs(mentioning=("clip",)):
            for c_node, c_event in cfg.direct_events(Ev.CLIP):
                found = self._where(cfg, c_node)
                if found is None:
                    continue
                where, steps = found
                s_node, s_event = cfg.first_event(steps, Ev.STEP)
                fix = None
                if isinstance(c_node.stmt, ast.Expr):
                    moved = edits.move_before(ctx.source, c_node.stmt, s_node.stmt)
                    if moved:
                        fix = Fix(f"Move the clipping just before `{ctx.source.segment(s_event.call)}`", moved, "safe")
                yield ctx.finding(
                    self,
                    c_event.call,
                    f"gradient clipping runs {where}: the update by `{ctx.source.segment(s_event.call)}` is not clipped",
                    fix=fix,
                    related=[ctx.related(ctx.model, s_event.call, "this step uses the unclipped gradients")],
                )
