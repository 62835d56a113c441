from __future__ import annotations

import ast

from ..analysis import edits
from ..analysis.events import Ev
from ..analysis.findings import Fix, Severity
from ..analysis.resolve import dotted
from ..analysis.torchapi import Kind
from . import register
from .base import Rule


@register
class ClipScaledGradients(Rule):
    """## What it does
    Checks for gradient clipping between `scaler.scale(loss).backward()` and
    `scaler.step(optimizer)` of an AMP `GradScaler` with no `scaler.unscale_(optimizer)`
    before the clip.

    ## Why is this bad?
    Under a `GradScaler` the gradients are multiplied by the loss scale (65536 at first)
    until `unscale_` or `step` divides them again. Clipping them before that compares the
    *scaled* norm with `max_norm`: the threshold is effectively divided by the scale, so
    almost every step is clipped to a tiny update, and the scale changes over training.

    ## Example
    ```python
    scaler.scale(loss).backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    scaler.step(optimizer)
    scaler.update()
    ```

    ## Use instead
    ```python
    scaler.scale(loss).backward()
    scaler.unscale_(optimizer)
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    scaler.step(optimizer)
    scaler.update()
    ```

    ## Fix safety
    Safe: inserts `scaler.unscale_(optimizer)` just before the clip; `scaler.step` knows
    the gradients are already unscaled and does not unscale them twice.

    ## References
    - [Working with unscaled gradients (AMP examples)](https://pytorch.org/docs/stable/notes/amp_examples.html#working-with-unscaled-gradients)
    - [torch.amp.GradScaler.unscale_](https://pytorch.org/docs/stable/amp.html#torch.amp.GradScaler.unscale_)
    """

    code = "TL105"
    name = "clip-scaled-gradients"
    severity = Severity.WARNING
    fix = "safe"

    def check(self, ctx):
        for cfg in ctx.flow.all_cfgs(mentioning=("clip",)):
            for c_node, c_event in cfg.direct_events(Ev.CLIP):
                found = self._scaler_step_after(ctx, cfg, c_node)
                if found is None:
                    continue
                s_event = found
                scaler, opt = s_event.call.func.value, s_event.call.args[0]
                scaler_text, opt_text = ctx.source.segment(scaler), ctx.source.segment(opt)
                fix = None
                insert = edits.insert_line_before(ctx.source, c_node.stmt, f"{scaler_text}.unscale_({opt_text})")
                if insert is not None and dotted(scaler) and dotted(opt):
                    fix = Fix(f"Insert `{scaler_text}.unscale_({opt_text})` before the clip", (insert,), "safe")
                yield ctx.finding(
                    self,
                    c_event.call,
                    f"gradients are clipped while still scaled by `{scaler_text}`: call "
                    f"`{scaler_text}.unscale_({opt_text})` first",
                    fix=fix,
                    related=[ctx.related(ctx.model, s_event.call, "the scaler's step, which unscales them only here")],
                )

    @staticmethod
    def _scaler_step_after(ctx, cfg, c_node):
        """The `scaler.step(opt)` event the clip reaches in its iteration when a backward
        reaches the clip and no `unscale_` can run before it; None otherwise."""
        it = cfg.iteration(c_node)
        c = c_node.id
        if c in it.backs or c in it.steps or not it.backs or not it.steps:
            return None
        if c not in it.reached_from("backward", ("step",)):
            return None  # not after a backward (TL104's business)
        step_id = it.reaching("step", ("backward",)).get(c)
        if step_id is None:
            return None
        unscales = cfg.event_nodes(it.region, Ev.UNSCALE, direct_only=False)
        if c_node.has(Ev.UNSCALE) or (unscales and c in cfg.reachable(unscales, it.region, avoid_edges_to=it.leave)):
            return None
        step_node = cfg.nodes[step_id]
        for e in step_node.events:
            if e.kind != Ev.STEP or not e.direct:
                continue
            call = e.call
            if not (
                isinstance(call, ast.Call)
                and isinstance(call.func, ast.Attribute)
                and call.func.attr == "step"
                and call.args
            ):
                continue
            k = ctx.model.kind(call.func.value)
            if k is not None and k.kind == Kind.SCALER:
                return e
        return None
