from __future__ import annotations

from ..analysis import edits
from ..analysis.events import Ev
from ..analysis.findings import Fix, Severity
from . import register
from ._helpers import event_target_expr, mode_layers, mode_layers_text
from .base import Rule


def _sets_mode_first(node, target: str) -> bool:
    """The node puts `target` in a mode of its own choosing: `train()` (or a mode unknown to
    us), or a step whose own code calls `eval()` first (a linear probe training a frozen
    backbone in eval mode on purpose): eval mode from earlier does not leak into it."""
    for x in node.events:
        if x.target == target and x.kind in (Ev.TRAIN, Ev.MODE_UNKNOWN):
            return True
        if x.target == target and x.kind == Ev.EVAL:
            return any(y.kind in (Ev.BACKWARD, Ev.STEP) for y in node.events[node.events.index(x) + 1 :])
    return False


@register
class EvalModeLeaksIntoTraining(Rule):
    """## What it does
    Checks for training loops in which the model is switched to eval mode (directly, or
    by a helper such as `validate(model)`, also one imported from another file) and the
    next training step runs without `model.train()` in between.

    Only models whose mode matters are reported: when the model's class is known and holds no
    Dropout, BatchNorm or other mode-dependent layer, the switch changes nothing (yet). A
    training function that puts the model in eval mode itself before its own steps (a linear
    probe on a frozen backbone) chooses that mode on purpose and is not reported.

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
    Safe: inserts `model.train()` where training resumes: before the first statement of the
    loop body, after the evaluation, that runs a training forward or step (or at the top of the
    loop body when training resumes in the next iteration). It is never put right after the
    `eval()`, which would cancel the evaluation that follows it. No fix is offered when the
    evaluation and the training step share one statement.

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
                layers_of: dict[str, frozenset[str] | None] = {}  # per target (thousands of evals in generated code)
                body = _Body(ctx.model, loop)
                for i in sorted(loop.body):
                    node = cfg.nodes[i]
                    for idx, e in enumerate(node.events):
                        if e.kind != Ev.EVAL or not e.target or id(e.call) in reported:
                            continue
                        later = node.events[idx + 1 :]
                        if any(x.target == e.target and x.kind in (Ev.TRAIN, Ev.MODE_UNKNOWN) for x in later):
                            continue
                        if e.target not in layers_of:
                            layers_of[e.target] = mode_layers(ctx.model, event_target_expr(e))
                        layers = layers_of[e.target]
                        if layers == frozenset():
                            continue  # no Dropout/BatchNorm in the model: the mode changes nothing
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
                        yield self._finding(ctx, body, node, e, cfg.nodes[first_step[node.id]], layers)

    def _paths(self, cfg, loop, region, steps, target):
        """For every node of the loop at once: the first training step (in source order) it
        reaches before a `target.train()`, and whether it reaches a step that itself restores
        the mode; None when `target` is not trained in this loop."""
        if not self._trained_here(loop, target):
            return None
        cfg.charge(len(region))
        restores = {i for i in region if _sets_mode_first(cfg.nodes[i], target)}
        ordered = cfg.in_source_order(steps)
        first_step = cfg.first_reaching(ordered, region, set(), restores, backward=True)
        restoring = cfg.first_reaching([j for j in ordered if j in restores], region, set(), restores, backward=True)
        return first_step, restoring

    @staticmethod
    def _trained_here(loop, target: str) -> bool:
        return any(e.target == target and not e.no_grad for _, e in loop.events(Ev.FORWARD))

    def _finding(self, ctx, body, node, e, step_node, layers):
        target = e.target
        if e.via is not None:
            what = f"`{ctx.source.segment(e.call)}` leaves `{target}` in eval mode"
            related = [ctx.related(e.origin_model, e.origin, f"`{target}` is switched to eval mode here and not back")]
        else:
            what = f"`{ctx.source.segment(e.call)}` switches `{target}` to eval mode"
            related = []
        step_event = next(x for x in step_node.events if x.kind in (Ev.BACKWARD, Ev.STEP))
        related.append(ctx.related(ctx.model, step_event.call, "the next training step runs in eval mode"))
        return ctx.finding(
            self,
            e.call,
            f"{what} and training continues without `{target}.train()`: {mode_layers_text(layers)} "
            f"stay in inference behaviour for the following training steps",
            fix=self._fix(ctx, body, node, step_node, target),
            related=related,
        )

    @staticmethod
    def _fix(ctx, body: _Body, eval_node, step_node, target: str) -> Fix | None:
        """`target.train()` where the next training phase starts: before the first statement of
        the loop body, after the evaluation (or from the top, when training resumes in the next
        iteration), that runs a training forward or step. Never right after the `eval()`: that
        would cancel the evaluation it was written for."""
        if not body.stmts:
            return None
        e_at, s_at = body.index(eval_node.stmt), body.index(step_node.stmt)
        if e_at is None or s_at is None or s_at == e_at:
            return None  # the evaluation and the step share one statement: no place between them
        training = body.training(target) | {s_at}
        span = range(e_at + 1, s_at + 1) if s_at > e_at else range(s_at + 1)
        first = next(i for i in span if i in training)
        edit = edits.insert_line_before(ctx.source, body.stmts[first], f"{target}.train()")
        if edit is None:
            return None
        where = "before training resumes" if s_at > e_at else "at the top of the training loop"
        return Fix(f"Insert `{target}.train()` {where}", (edit,), "safe")


class _Body:
    """The statements of a training loop's body, indexed once per loop: which one holds a
    node, and which hold a training forward of a model."""

    def __init__(self, model, loop):
        self.model, self.loop = model, loop
        self.stmts = list(getattr(loop.node, "body", None) or [])
        self._at = {id(st): i for i, st in enumerate(self.stmts)}
        self._index: dict[int, int | None] = {}
        self._training: dict[str, set[int]] = {}

    def index(self, stmt) -> int | None:
        key = id(stmt)
        if key not in self._index:
            found = None
            for a in [stmt, *self.model.ancestors(stmt)]:
                if id(a) in self._at:
                    found = self._at[id(a)]
                    break
            self._index[key] = found
        return self._index[key]

    def training(self, target: str) -> set[int]:
        if target not in self._training:
            out = set()
            for n, ev in self.loop.events(Ev.FORWARD):
                if ev.target == target and not ev.no_grad:
                    i = self.index(n.stmt)
                    if i is not None:
                        out.add(i)
            self._training[target] = out
        return self._training[target]
