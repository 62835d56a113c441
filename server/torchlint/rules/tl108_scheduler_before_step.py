from __future__ import annotations

import ast

from ..analysis import edits
from ..analysis.events import Ev
from ..analysis.findings import Fix, Severity
from ..analysis.torchapi import Kind
from . import register
from .base import Rule


@register
class SchedulerBeforeStep(Rule):
    """## What it does
    Checks for `lr_scheduler.step()` that runs before `optimizer.step()` in the same
    iteration, on every path: per batch in the loop that steps, or per epoch at the top of
    the epoch loop, before the batches.

    ## Why is this bad?
    Since PyTorch 1.1 the scheduler is meant to be stepped after the optimizer. Stepping it
    first skips the first value of the schedule: the warm-up starts one step late, the
    initial learning rate is never used, and a per-epoch schedule decays one epoch early
    (PyTorch warns "Detected call of `lr_scheduler.step()` before `optimizer.step()`").

    Only schedulers known to be PyTorch's (or `transformers`' schedules) are judged: a
    scheduler class of one's own may set the rate for the coming step on purpose. Schedulers
    stepped with an argument (`ReduceLROnPlateau.step(val_loss)`, an explicit epoch) and
    schedulers stepped only on some paths are not reported.

    ## Example
    ```python
    for x, y in loader:
        optimizer.zero_grad()
        criterion(model(x), y).backward()
        scheduler.step()
        optimizer.step()
    ```

    ## Use instead
    ```python
    for x, y in loader:
        optimizer.zero_grad()
        criterion(model(x), y).backward()
        optimizer.step()
        scheduler.step()
    ```

    ## Fix safety
    Safe: moves the scheduler step just after the statement that steps the optimizer (after
    the whole batch loop when the scheduler is stepped per epoch).

    ## References
    - [How to adjust learning rate](https://pytorch.org/docs/stable/optim.html#how-to-adjust-learning-rate)
    """

    code = "TL108"
    name = "scheduler-before-step"
    severity = Severity.WARNING
    fix = "safe"

    def check(self, ctx):
        for cfg in ctx.flow.all_cfgs(mentioning=("step",)):
            for s_node, s_event in cfg.direct_events(Ev.SCHED_STEP):
                call = s_event.call
                if call.args or call.keywords or s_node.has(Ev.STEP):
                    continue  # `scheduler.step(val_loss)`, `step(epoch)`: not the order this rule knows
                # only torch's (and transformers') schedulers: a scheduler class of one's own may
                # well set the rate for the coming step, before it
                k = ctx.model.kind(call.func.value)
                if k is None or k.kind != Kind.SCHEDULER or (k.qualname or "").endswith("ReduceLROnPlateau"):
                    continue
                step_id = self._step_after(cfg, s_node)
                if step_id is None:
                    continue
                o_node = cfg.nodes[step_id]
                o_event = next(e for e in o_node.events if e.kind == Ev.STEP)
                fix = None
                anchor = _in_block_of(ctx.model, s_node.stmt, o_node.stmt)
                if isinstance(s_node.stmt, ast.Expr) and anchor is not None:
                    moved = edits.move_after(ctx.source, s_node.stmt, anchor)
                    if moved:
                        where = (
                            f"`{ctx.source.segment(o_event.call)}`"
                            if anchor is o_node.stmt
                            else "the loop"
                            if isinstance(anchor, (ast.For, ast.AsyncFor, ast.While))
                            else "the block"
                        )
                        fix = Fix(f"Move `{ctx.source.segment(call)}` after {where}", moved, "safe")
                step_text = ctx.source.segment(o_event.call)
                if o_event.direct:
                    what = f"`{step_text}`"
                    related = [ctx.related(ctx.model, o_event.call, "the optimizer step, which should come first")]
                else:
                    what = f"the optimizer step in `{step_text}`"
                    related = [
                        ctx.related(o_event.origin_model, o_event.origin, "the optimizer step, which should come first")
                    ]
                yield ctx.finding(
                    self,
                    call,
                    f"`{ctx.source.segment(call)}` runs before {what}: the first learning rate of the schedule is skipped",
                    fix=fix,
                    related=related,
                )

    @staticmethod
    def _step_after(cfg, s_node) -> int | None:
        """An optimizer step node (its own step or a helper's) of the scheduler step's
        iteration that every path through the iteration reaches only after the scheduler
        step, with no optimizer step before it; None otherwise. Outside loops the iteration
        is one call of the function: its loops count (`scheduler.step()` on top of a
        `train_epoch()` that loops over batches)."""
        if s_node.loops:
            it = cfg.iteration(s_node)
            region, leave = it.region, it.leave
            starts = list(leave)
        else:
            region, leave, starts = set(range(len(cfg.nodes))), set(), [cfg.entry.id]
        s = s_node.id
        steps = cfg.event_nodes(region, Ev.STEP, direct_only=False) - {s}
        if not steps:
            return None
        if s in cfg.reachable(steps, region, avoid_edges_to=leave):
            return None  # an optimizer step may come first
        after = cfg.reachable([s], region, avoid_edges_to=leave) & steps
        if not after:
            return None
        around = cfg.reachable(starts, region, blocked=lambda n: n.id == s, avoid_edges_to=leave)
        if any(t in around for t in after):
            return None  # some path reaches a step without the scheduler step
        return cfg.in_source_order(after)[0]


def _in_block_of(model, stmt: ast.stmt, other: ast.stmt) -> ast.stmt | None:
    """The statement of `stmt`'s block that is or holds `other`, when it comes after `stmt`."""
    parent = model.parent(stmt)
    for a in [other, *model.ancestors(other)]:
        if model.parent(a) is parent and a is not stmt:
            block = next(
                (
                    getattr(parent, f)
                    for f in ("body", "orelse", "finalbody")
                    if any(x is a for x in getattr(parent, f, []) or [])
                ),
                None,
            )
            if block is not None and any(x is stmt for x in block) and block.index(a) > block.index(stmt):
                return a
            return None
    return None
