from __future__ import annotations

import ast

from ..analysis import edits
from ..analysis.findings import Fix, Severity
from ..analysis.flow import Ev
from . import register
from .base import Rule

_COMPOUND = (ast.If, ast.For, ast.AsyncFor, ast.While, ast.With, ast.AsyncWith, ast.Try, ast.Match, ast.FunctionDef, ast.ClassDef)


@register
class EvalModeLeaksIntoTraining(Rule):
    """## What it does
    Checks for training loops in which the model is switched to eval mode (directly, or
    by a helper such as `validate(model)`, also one imported from another file) and the
    next training step runs without `model.train()` in between.

    ## Why is this bad?
    `model.eval()` turns dropout off and makes batch norm use (and stop updating) its
    running statistics. If training resumes without `model.train()`, the rest of the run
    trains a different network than intended: regularisation is gone and batch-norm
    statistics are frozen, with no error and a plausible-looking loss.

    ## Example
    ```python
    for epoch in range(epochs):
        for x, y in train_loader:
            ...
            loss.backward()
            optimizer.step()
        validate(model, val_loader)  # calls model.eval()
    ```

    ## Use instead
    ```python
    for epoch in range(epochs):
        model.train()
        for x, y in train_loader:
            ...
            loss.backward()
            optimizer.step()
        validate(model, val_loader)
    ```

    ## Fix safety
    Safe: inserts `model.train()` right after the call that switched the mode.

    ## References
    - [torch.nn.Module.train / eval](https://pytorch.org/docs/stable/generated/torch.nn.Module.html#torch.nn.Module.eval)
    """

    code = "TL201"
    name = "eval-mode-leaks-into-training"
    severity = Severity.WARNING
    fix = "safe"

    def check(self, ctx):
        reported: set[int] = set()
        for cfg in ctx.flow.all_cfgs(mentioning=ctx.flow.training_scope_words(), with_loops=True):
            # innermost loops first, so a finding names the loop that really resumes training
            for loop in sorted(cfg.loops.values(), key=lambda l: len(l.body)):
                if not loop.is_training:
                    continue
                region = loop.body | {loop.header}
                steps = {i for i in loop.body if cfg.nodes[i].has(Ev.BACKWARD) or cfg.nodes[i].has(Ev.STEP)}
                paths: dict[str, tuple[dict[int, int], dict[int, int]] | None] = {}  # per target
                for i in sorted(loop.body):
                    node = cfg.nodes[i]
                    for idx, e in enumerate(node.events):
                        if e.kind != Ev.EVAL or not e.target or id(e.call) in reported:
                            continue
                        later = node.events[idx + 1 :]
                        if any(x.target == e.target and x.kind in (Ev.TRAIN, Ev.MODE_UNKNOWN) for x in later):
                            continue
                        if e.target not in paths:
                            paths[e.target] = self._paths(cfg, loop, region, steps, e.target)
                        found = paths[e.target]
                        if found is None:
                            continue  # not trained here: e.g. a frozen teacher kept in eval on purpose
                        first_step, restoring_step = found
                        # a step is reached before any train() ... and none that is reached restores
                        if node.id not in first_step or node.id in restoring_step:
                            continue
                        reported.add(id(e.call))
                        yield self._finding(ctx, node, e, cfg.nodes[first_step[node.id]])

    def _paths(self, cfg, loop, region, steps, target):
        """For every node of the loop at once: the first training step (in source order) it
        reaches before a `target.train()`, and whether it reaches a step that itself restores
        the mode; None when `target` is not trained in this loop."""
        if not self._trained_here(loop, target):
            return None
        cfg.charge(len(region))
        restores = {
            i for i in region if any(x.target == target and x.kind in (Ev.TRAIN, Ev.MODE_UNKNOWN) for x in cfg.nodes[i].events)
        }
        ordered = cfg.in_source_order(steps)
        first_step = cfg.first_reaching(ordered, region, set(), restores, backward=True)
        restoring = cfg.first_reaching([j for j in ordered if j in restores], region, set(), restores, backward=True)
        return first_step, restoring

    @staticmethod
    def _trained_here(loop, target: str) -> bool:
        return any(e.target == target and not e.no_grad for _, e in loop.events(Ev.FORWARD))

    def _finding(self, ctx, node, e, step_node):
        target = e.target
        if e.via is not None:
            what = f"`{ctx.source.segment(e.call)}` leaves `{target}` in eval mode"
            related = [ctx.related(e.origin_model, e.origin, f"`{target}` is switched to eval mode here and not back")]
        else:
            what = f"`{ctx.source.segment(e.call)}` switches `{target}` to eval mode"
            related = []
        step_event = next(x for x in step_node.events if x.kind in (Ev.BACKWARD, Ev.STEP))
        related.append(ctx.related(ctx.model, step_event.call, "the next training step runs in eval mode"))
        fix = None
        if isinstance(node.stmt, ast.stmt) and not isinstance(node.stmt, _COMPOUND):
            edit = edits.insert_line_after(ctx.source, node.stmt, f"{target}.train()")
            if edit is not None:
                fix = Fix(f"Insert `{target}.train()` after this call", (edit,), "safe")
        return ctx.finding(
            self,
            e.call,
            f"{what} and training continues without `{target}.train()`: dropout and batch norm "
            f"stay in inference behaviour for the following training steps",
            fix=fix,
            related=related,
        )
