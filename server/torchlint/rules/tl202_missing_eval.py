from __future__ import annotations

import ast

from ..analysis import edits
from ..analysis.events import Ev
from ..analysis.findings import Fix, Severity
from ..analysis.torchapi import Kind
from . import register
from ._helpers import (
    event_target_expr,
    guards,
    kind_of,
    mode_layers,
    mode_layers_text,
    only_running_stats_norm,
    reaching_binding,
    repaired,
)
from .base import Rule


@register
class MissingEval(Rule):
    """## What it does
    Checks for evaluation or inference loops reached without `model.eval()` on every path.
    An evaluation loop is recognised by what it does with the model, whatever it iterates
    (a DataLoader, a generator of batches, `loaders['test']`, a parameter named `ds`): it
    runs the model, never trains (no backward, step or zero_grad in it, and no backward
    after it through what it computed, as in teacher forcing), and does not stop after its
    first batch. A `for t in range(n)` loop (greedy decoding) counts only in a function that
    never trains. Each model a loop runs is judged on its own (an encoder and a decoder give
    one finding each). Calls from other functions in the file count: an
    `evaluate(model, loader)` whose callers all call `model.eval()` first is fine; a
    function nobody in the file calls is judged on its own body.

    Only models whose mode matters are reported (a known class without Dropout, BatchNorm or
    other mode-dependent layers is not; in a loop that is not over a data loader, only a model
    whose class is known to have such layers), and a mode chosen for the loop on purpose is respected:
    an explicit `model.train()` right before it, or `eval()` under the same condition as the
    forward (`if encoder is not None:`).

    ## Why is this bad?
    In training mode, dropout randomly zeroes activations and batch norm normalises with
    the statistics of the current batch (and updates its running averages with test
    data). Metrics come out noisy and too low, and depend on the batch size.

    ## Example
    ```python
    def evaluate(model, loader):
        with torch.no_grad():
            for x, y in loader:
                correct += (model(x).argmax(1) == y).sum().item()
    ```

    ## Use instead
    ```python
    def evaluate(model, loader):
        model.eval()
        with torch.no_grad():
            for x, y in loader:
                correct += (model(x).argmax(1) == y).sum().item()
    ```

    ## Fix safety
    Safe: inserts `model.eval()` just before the loop (one line per model of the loop that
    needs it, the same edit for each of its findings). If the caller then resumes training,
    it needs `model.train()` afterwards (TL201 reports that, and its fix puts it where training
    resumes, so the two fixes converge). No fix is offered for a model whose only mode-dependent
    layers are InstanceNorm with running statistics: `eval()` switches them to statistics some
    generators never trained for (yunjey/stargan#102), a choice to make by looking at outputs.

    ## References
    - [torch.nn.Module.eval](https://pytorch.org/docs/stable/generated/torch.nn.Module.html#torch.nn.Module.eval)
    """

    code = "TL202"
    name = "missing-eval"
    severity = Severity.WARNING
    fix = "safe"

    def check(self, ctx):
        # several models in one loop (encoder and decoder): one finding each, and every
        # finding's fix inserts the eval() of all the loop's models that need one (the same
        # edit: applied together they do not overlap, and the loop is left fully fixed)
        pending: dict[object, list] = {}
        for loop, node, event in ctx.flow.evaluation_loops():
            target = event.target
            if not target or repaired(ctx.model, loop.cfg.scope, loop.node):
                continue
            layers = mode_layers(ctx.model, event_target_expr(event))
            if layers == frozenset():
                continue  # no Dropout/BatchNorm in the model: the mode changes nothing
            if layers is None and not ctx.flow.iterates_loader(loop.node.iter):
                # a loop over a generator, a list or `range(max_length)`, running a model we
                # cannot see (a parameter, a lambda): say "training mode" only for a known model
                continue
            if layers is None and _fed_by_a_model(ctx.model, event.call):
                # a module of unknown class (`loss_fn: nn.Module`) called on a model's output:
                # a loss or a head, whose mode we cannot judge
                continue
            modes = ctx.flow.mode_on_entry(loop.cfg, node, target)
            if "unknown" in modes or "train" not in modes:
                continue
            if self._chosen_here(ctx, loop, node, event):
                continue
            pending.setdefault(loop, []).append((event, layers))
        for loop, found in pending.items():
            # eval() would switch InstanceNorm to running statistics, which some GANs never
            # trained for: a real choice, not a quick fix
            fixable = [e.target for e, layers in found if not only_running_stats_norm(layers)]
            fixable = list(dict.fromkeys(fixable))
            fix = None
            if fixable:
                indent = ctx.source.line_indent(loop.node.lineno - 1)
                code = f"{edits.newline(ctx.source)}{indent}".join(f"{t}.eval()" for t in fixable)
                edit = edits.insert_line_before(ctx.source, loop.node, code)
                if edit is not None:
                    shown = " and ".join(f"`{t}.eval()`" for t in fixable)
                    fix = Fix(f"Insert {shown} before the loop", (edit,), "safe")
            for event, layers in found:
                target = event.target
                caveat = ""
                if only_running_stats_norm(layers):
                    caveat = (
                        " (`eval()` makes InstanceNorm use its running statistics: check the outputs before switching)"
                    )
                yield ctx.finding(
                    self,
                    event.call,
                    f"`{ctx.source.segment(event.call)}` runs in training mode: this evaluation loop is "
                    f"reached without `{target}.eval()`, so {mode_layers_text(layers)} behave as in training{caveat}",
                    fix=fix if target in fixable else None,
                )

    @staticmethod
    def _chosen_here(ctx, loop, node, event) -> bool:
        """The mode of this loop is chosen on purpose: an explicit `model.train()` reaches it
        with no training step in between (`if train: model.train() else: model.eval()`), or the
        only `eval()` and the forward sit under the same condition (`if enc is not None:`), so
        the path that skips one skips the other."""
        cfg, target = loop.cfg, event.target
        switches = [
            (n, e)
            for n in cfg.nodes
            for e in n.events
            if e.target == target and e.kind in (Ev.TRAIN, Ev.EVAL) and e.direct
        ]
        trains = [n.id for n, e in switches if e.kind == Ev.TRAIN]
        if trains:
            is_step = lambda n: n.has(Ev.BACKWARD) or n.has(Ev.STEP)
            # no training step may lie between: `model.train()` then training then evaluation
            # is the usual script, where train() was meant for the training
            steps_after = [i for i in cfg.reachable(trains) if is_step(cfg.nodes[i])]
            if node.id in cfg.reachable(trains, None, is_step) and not (
                steps_after and node.id in cfg.reachable(steps_after)
            ):
                return True
        evals = [e for _, e in switches if e.kind == Ev.EVAL]
        if evals and not trains:
            at_forward = guards(ctx.model, event.call)
            if at_forward and all(guards(ctx.model, e.call) and guards(ctx.model, e.call) <= at_forward for e in evals):
                return True
        return False


def _fed_by_a_model(model, call) -> bool:
    """An argument of `call` is the output of a module call: `f(net(x), y)` or `out = net(x)`."""
    for arg in getattr(call, "args", ()):
        if isinstance(arg, ast.Name):
            b = reaching_binding(model, arg)
            arg = b.value if b is not None else None
        if isinstance(arg, ast.Call):
            k = kind_of(model, arg.func)
            if k is not None and k.kind == Kind.MODULE:
                return True
    return False
