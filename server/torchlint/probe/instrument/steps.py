"""The training step as the probe follows it: the step's loss at backward(), the bookkeeping
before and after each optimizer step, and the stop after the requested number of steps."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import torch

from . import checks
from .probe import Probe
from .state import StopProbe

GRAPH_NODE_BUDGET = 20000


def note_class_loss(probe: Probe, name: str, logits: Any, kwargs: dict[str, Any]) -> None:
    """The first cross_entropy/nll_loss: the number of classes and the label smoothing (TLR08,
    the loss floor)."""
    if not isinstance(logits, torch.Tensor) or not logits.requires_grad or logits.dim() < 1:
        return
    classes = int(logits.shape[1] if logits.dim() >= 2 else logits.shape[0])
    probe.loss.class_loss = {
        "loss": name,
        "classes": classes,
        "reduction": kwargs.get("reduction", "mean"),
        "label_smoothing": float(kwargs.get("label_smoothing") or 0.0),
        "site": probe.sites.user_site(),
    }


def _graph_reaches(
    root: Any, targets: dict[Any, int], want_leaves: bool
) -> tuple[set[int], dict[int, torch.nn.Parameter] | None, bool]:
    """Walk the autograd graph from `root`: which target nodes it reaches; leaf params if asked."""
    found: set[int] = set()
    leaves: dict[int, torch.nn.Parameter] = {}
    seen: set[int] = set()
    stack = [root]
    complete = True
    while stack:
        node = stack.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        if len(seen) > GRAPH_NODE_BUDGET:
            complete = False
            break
        idx = targets.get(node)
        if idx is not None:
            found.add(idx)
            if len(found) == len(targets) and not want_leaves:
                break
        if want_leaves:
            var = getattr(node, "variable", None)
            if isinstance(var, torch.nn.Parameter):
                leaves[id(var)] = var
        stack.extend(fn for fn, _ in node.next_functions)
    return found, (leaves if want_leaves and complete else None), complete


def on_backward(probe: Probe, tensors: Any) -> None:
    """torch.autograd.backward was called: the loss of the step (the value the loss function
    returned, not the scaled or divided tensor), the backward line, what the graph reaches."""
    t = (
        tensors
        if isinstance(tensors, torch.Tensor)
        else (
            tensors[0]
            if isinstance(tensors, (list, tuple)) and tensors and isinstance(tensors[0], torch.Tensor)
            else None
        )
    )
    loss, run = probe.loss, probe.run
    loss.backward_seen = True
    if loss.backward_site is None:
        loss.backward_site = probe.sites.user_site()
    if t is None:
        return
    if not t.requires_grad:
        checks.loss_without_grad(probe)
        return

    early = run.step <= 3
    if early or any(o.steps <= 3 for o in probe.optimizers.facts.values()):
        checks.note_clearing(probe)  # TLR07, per optimizer (each is checked over its own first steps)
        loss.last_backward_site = probe.sites.user_site()

    if t.numel() != 1:
        return
    value: float | None = None
    sources: list[str] = []
    leaves: dict[int, torch.nn.Parameter] | None = None
    recorded = loss.recorded
    if recorded:
        targets = {rec.grad_fn: i for i, (rec, _) in enumerate(recorded) if rec.grad_fn is not None}
        direct = [i for i, (rec, _) in enumerate(recorded) if rec is t]
        if direct:
            found = set(direct)
            if early:
                _, leaves, _ = _graph_reaches(t.grad_fn, {}, True)
        else:
            found, leaves, _ = _graph_reaches(t.grad_fn, targets, early)
        if len(found) == 1:
            # one loss function: its own value (the backward tensor may be divided for
            # gradient accumulation or scaled by GradScaler)
            value = sum(float(recorded[i][0].detach().sum().item()) for i in found)
        if found:
            sources = [recorded[i][1] for i in sorted(found)]
    elif early:
        _, leaves, _ = _graph_reaches(t.grad_fn, {}, True)
    if leaves:
        probe.grads.graph_leaves.update(leaves)
        probe.grads.pending_leaves.update(leaves)
    if value is None:
        # a hand-written loss, or several loss terms (weighted: 0.5 * (real + fake)): the
        # tensor given to backward, with GradScaler's factor removed
        value = float(loss.unscaled(t).detach().sum().item())
        sources = sources or ["backward"]
    recorded.clear()
    if loss.first_sources is None:
        loss.first_sources = sources
    run.pending.append(value)
    if not math.isfinite(value):
        run.nonfinite = True
        probe.findings.report(
            "TLR02", f"the loss is {value} at step {run.step + 1}", loss.backward_site, "error", key="nonfinite"
        )


def _closure_of(args: Any, kwargs: Any) -> tuple[Any, str | int | None]:
    """The closure passed to optimizer.step(closure) (args[0] is the optimizer itself)."""
    if kwargs and callable(kwargs.get("closure")):
        return kwargs["closure"], "closure"
    if len(args) > 1 and callable(args[1]):
        return args[1], 1
    return None, None


def step_pre_hook(probe: Probe) -> Callable[[torch.optim.Optimizer, Any, Any], Any]:
    """The global optimizer step pre-hook: the checks "before the step", or, for
    optimizer.step(closure), a closure that runs them once it has run."""

    def hook(opt: torch.optim.Optimizer, args: Any, kwargs: Any) -> Any:
        if torch.compiler.is_compiling():
            return None
        try:
            closure, where = _closure_of(args, kwargs)
            if closure is not None:
                # Forward and backward run inside step(closure), after this hook (LBFGS, Lightning):
                # the facts "before the step" are taken once the closure has run.
                wrapped = _wrap_closure(probe, opt, closure)
                if where == "closure":
                    return args, {**kwargs, "closure": wrapped}
                return (args[0], wrapped, *args[2:]), kwargs
            _before_step(probe, opt)
        except Exception as exc:
            probe.channel.warn(f"probe step hook: {exc!r}")
        return None

    return hook


def _wrap_closure(probe: Probe, opt: torch.optim.Optimizer, closure: Callable[..., Any]) -> Callable[..., Any]:
    calls = [0, 0]  # closure calls so far, len(pending) after the first
    run = probe.run

    def wrapped(*a: Any, **k: Any) -> Any:
        out = closure(*a, **k)
        calls[0] += 1
        if calls[0] == 1:
            calls[1] = len(run.pending)
            try:
                _before_step(probe, opt)
            except Exception as exc:
                probe.channel.warn(f"probe step hook: {exc!r}")
        else:
            # LBFGS evaluates the closure many times per step (line search): the step's
            # loss is the first evaluation, at the parameters the step started from.
            del run.pending[calls[1] :]
        return out

    return wrapped


def _before_step(probe: Probe, opt: torch.optim.Optimizer) -> None:
    opts, run = probe.optimizers, probe.run
    info = opts.facts_of(opt)
    info.backward_site = probe.loss.last_backward_site or info.backward_site
    checks.check_clearing(probe, info)
    if opts.primary is None:
        opts.primary = opt
        params = opts.params()
        if params:
            run.device = str(params[0].device)
        probe.layers.index_owners(list(probe.sites.modules.keys()))
    if probe.grads.snapshot is None:
        probe.grads.snapshot = {}
    if info.steps == 0:
        snapshot = probe.grads.snapshot
        for g in opt.param_groups:
            for p in g["params"]:
                snapshot.setdefault(id(p), p.detach().clone())
    if opt is not opts.primary or not run.sampling:
        return
    checks.check_eval_mode(probe)
    checks.check_gradients(probe)


def _lr_of(opt: torch.optim.Optimizer) -> float | None:
    try:
        lr: Any = opt.param_groups[0].get("lr")  # a number, a tensor (capturable), or what the script put there
        return float(lr.item() if isinstance(lr, torch.Tensor) else lr)
    except Exception:
        return None


def step_post_hook(probe: Probe) -> Callable[[torch.optim.Optimizer, Any, Any], None]:
    """The global optimizer step post-hook: the step's loss and lr to the parent, the next
    iteration's sampling, and the stop once the primary optimizer made the requested steps."""
    run, opts, grads, channel = probe.run, probe.optimizers, probe.grads, probe.channel

    def hook(opt: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        if torch.compiler.is_compiling():
            return
        info = opts.facts_of(opt)
        info.steps += 1
        info.clean = False
        loss = sum(run.pending) / len(run.pending) if run.pending else None
        run.pending = []
        if grads.pending_leaves:
            for other in opts.facts.values():
                if other is not info and other.param_ids & grads.pending_leaves:
                    info.reaches.add(other.index)
            grads.pending_leaves = set()
        checks.check_scaler(probe, info)
        probe.replay.new_period(opt is opts.primary)
        lr = _lr_of(opt)
        if opt is not opts.primary:
            channel.send(
                {"type": "curve", "opt": info.index, "name": info.name, "step": info.steps, "loss": loss, "lr": lr},
                batch=True,
            )
            return
        run.step += 1
        now = time.perf_counter()
        run.losses.append(loss)
        run.step_times.append(now)
        probe.layers.eval_in_training.clear()
        channel.send(
            {"type": "step", "step": run.step, "loss": loss, "time": now - run.start, "lr": lr},
            batch=3 < run.step < run.target,
        )  # early steps unbatched: a crash still shows them
        probe.forward_hook.set(run.sample_next())
        if run.step >= run.target:
            raise StopProbe()

    return hook
