"""The runtime findings (TLR02-TLR10): what the forward hook, the step bookkeeping and the end
of the run look for. Thresholds from AUTOTRAINER / DeepDiagnosis (see docs/overfit.md)."""

from __future__ import annotations

import math
import weakref
from collections.abc import Callable
from typing import Any

import torch

from .probe import Probe
from .state import OptimizerFacts, Site

VANISHING_RATIO = 1e-3
VANISHING_FIRST_NORM = 1e-4
EXPLODING_RATIO = 70.0
DEAD_RELU_FRACTION = 0.70
SIGNIFICANT_GRAD = 1e-6  # relative to the parameter's largest value

_DROPOUT_TYPES = (torch.nn.modules.dropout._DropoutNd, torch.nn.AlphaDropout)
_MODE_TYPES = _DROPOUT_TYPES + (torch.nn.modules.batchnorm._BatchNorm,)

# ----------------------------------------------------------------------------- during the run


def forward_observer(probe: Probe) -> Callable[[torch.nn.Module, Any, Any], None]:
    """The global forward hook of sampled iterations: the order of layers (first/last layer for
    gradient ratios), the model for TLR10, train/eval mode of Dropout/BatchNorm (TLR06), dead
    ReLUs (TLR09)."""
    run, layers, sites, findings = probe.run, probe.layers, probe.sites, probe.findings

    def hook(mod: torch.nn.Module, args: Any, out: Any) -> None:
        if not run.sampling or torch.compiler.is_compiling():
            return
        try:
            if run.step == 0:
                _note_mixing_candidate(probe, mod, args, out)
            layers.saw(mod)
            if isinstance(mod, _MODE_TYPES):
                grad = torch.is_grad_enabled()
                trainable = isinstance(mod, _DROPOUT_TYPES) or any(
                    p.requires_grad for p in mod.parameters(recurse=False)
                )
                if grad and not mod.training and trainable:
                    layers.eval_in_training[id(mod)] = mod
                else:
                    layers.eval_in_training.pop(id(mod), None)
                if not grad and mod.training:
                    kind = type(mod).__name__
                    extra = (
                        " (its running statistics are updated by this data)"
                        if not isinstance(mod, _DROPOUT_TYPES)
                        else ""
                    )
                    findings.report(
                        "TLR06",
                        f"{kind} is in train mode during a forward pass under no_grad "
                        f"(evaluation without model.eval()?){extra}",
                        sites.module_site(mod),
                        "warning",
                        key=("nograd-train", id(mod)),
                    )
            elif (
                isinstance(mod, (torch.nn.ReLU, torch.nn.ReLU6))
                and isinstance(out, torch.Tensor)
                and out.dim() >= 2
                and out.shape[0] > 1
            ):
                dead = 1.0 - float((out.detach() > 0).any(dim=0).float().mean().item())
                if dead >= DEAD_RELU_FRACTION:
                    findings.defer(
                        "TLR09",
                        f"dead ReLU: {dead:.0%} of the units of this ReLU output zero for "
                        f"every sample of the batch (threshold {DEAD_RELU_FRACTION:.0%})",
                        sites.module_site(mod),
                        "warning",
                        key=("relu", id(mod)),
                    )
        except Exception:
            pass

    return hook


def check_eval_mode(probe: Probe) -> None:
    """TLR06: Dropout/BatchNorm left in eval mode during the training forward of this step."""
    for mod in list(probe.layers.eval_in_training.values()):
        probe.findings.report(
            "TLR06",
            f"{type(mod).__name__} is in eval mode during a training step "
            "(model.eval() without model.train() before training?)",
            probe.sites.module_site(mod),
            "warning",
            key=("eval-train", id(mod)),
        )
    probe.layers.eval_in_training.clear()


def loss_without_grad(probe: Probe) -> None:
    """backward() on a loss that does not require grad: every parameter frozen (TLR05) or the
    loss cut from the graph (TLR03)."""
    opts = probe.optimizers
    params = opts.params()
    if params and not any(p.requires_grad for p in params):
        site = None
        for opt in opts.all:
            site = opts.sites.get(id(opt))
        probe.findings.report(
            "TLR05",
            "every parameter given to the optimizer is frozen (requires_grad=False): nothing can be trained",
            site or probe.loss.backward_site,
            "error",
        )
    else:
        probe.findings.report(
            "TLR03",
            "the loss does not require grad: it was computed under no_grad, "
            "detached, or from frozen parameters; no parameter receives a gradient",
            probe.loss.backward_site,
            "error",
        )


def note_clearing(probe: Probe) -> None:
    """Before a backward: an optimizer whose gradients are all None/zero now was cleared
    since its last step (per optimizer: a GAN clears D before D's backward, G before G's)."""
    for opt in list(probe.optimizers.all):
        info = probe.optimizers.facts.get(id(opt))
        if info is None or info.clean or info.steps > 3:
            continue
        if all(p.grad is None or not bool(p.grad.detach().ne(0).any()) for g in opt.param_groups for p in g["params"]):
            info.clean = True


def check_clearing(probe: Probe, info: OptimizerFacts) -> None:
    """TLR07: over an optimizer's first steps, gradients not cleared between its steps."""
    if info.steps >= 1 and info.steps <= 3 and not info.clean:
        probe.findings.report(
            "TLR07",
            "gradients from the previous step are still in .grad when "
            "backward() runs again: they accumulate across optimizer steps "
            f"(missing {probe.optimizers.label(info)}.zero_grad()?)",
            info.backward_site or probe.loss.backward_site,
            "error",
            key=("TLR07", info.index),
        )


def check_gradients(probe: Probe) -> None:
    """Before a sampled step of the primary optimizer: which parameters received a gradient,
    NaN/Inf in a gradient (TLR02), vanishing or exploding gradients (TLR09)."""
    layers = probe.layers
    for p in probe.optimizers.params():
        g = p.grad
        if g is None:
            continue
        # "Received a gradient" means one that can move the parameter: a vanishing 1e-13
        # gradient leaves float32 weights bitwise unchanged, which is TLR09, not TLR05.
        if float(g.detach().abs().max()) > SIGNIFICANT_GRAD * (float(p.detach().abs().max()) + 1e-12):
            probe.grads.seen.add(id(p))
        if not bool(torch.isfinite(g).all()):
            owner = layers.param_owner.get(id(p))
            probe.findings.report(
                "TLR02",
                f"NaN/Inf in the gradient of {layers.label(p)} at step {probe.run.step + 1}",
                probe.sites.module_site(owner[0]) if owner else probe.loss.backward_site,
                "error",
                key="nonfinite",
            )
            probe.run.nonfinite = True
            break
    _check_gradient_ratio(probe)


def _module_grad_norm(mod: torch.nn.Module) -> float | None:
    total = 0.0
    any_grad = False
    for p in mod.parameters(recurse=False):
        if p.grad is not None:
            any_grad = True
            total += float(p.grad.detach().float().norm().item()) ** 2
    return math.sqrt(total) if any_grad else None


def _check_gradient_ratio(probe: Probe) -> None:
    run = probe.run
    first_loss = run.losses[0] if run.losses else (run.pending[0] if run.pending else None)
    current = run.pending[-1] if run.pending else None
    if (
        first_loss is not None
        and current is not None
        and math.isfinite(first_loss)
        and first_loss > 0
        and current < 0.1 * first_loss
    ):
        return  # near the optimum every gradient is small; the ratio means nothing there
    layers = []
    for ref in probe.layers.order:
        mod = ref()
        if mod is None:
            continue
        norm = _module_grad_norm(mod)
        if norm is not None:
            layers.append((mod, norm))
    if len(layers) < 2:
        return
    (first, fnorm), (last, lnorm) = layers[0], layers[-1]
    if not (math.isfinite(fnorm) and math.isfinite(lnorm)):
        return
    if lnorm > 0:
        ratio = fnorm / lnorm
        if ratio < VANISHING_RATIO and fnorm < VANISHING_FIRST_NORM:
            probe.findings.defer(
                "TLR09",
                f"vanishing gradients at step {run.step + 1}: first layer "
                f"{type(first).__name__} gradient norm {fnorm:.2e} is {ratio:.1e} x that of the "
                f"last layer {type(last).__name__} ({lnorm:.2e})",
                probe.sites.module_site(first),
                "warning",
                key="vanishing",
            )
        elif ratio > EXPLODING_RATIO:
            probe.findings.defer(
                "TLR09",
                f"exploding gradients at step {run.step + 1}: first layer "
                f"{type(first).__name__} gradient norm {fnorm:.2e} is {ratio:.0f} x that of the "
                f"last layer {type(last).__name__} ({lnorm:.2e})",
                probe.sites.module_site(first),
                "warning",
                key="exploding",
            )


def check_scaler(probe: Probe, info: OptimizerFacts) -> None:
    """TLR02: a GradScaler scaled the loss but the optimizer stepped without scaler.step(): the
    gradients it applied were multiplied by the scale factor (65536 by default)."""
    loss = probe.loss
    if loss.scaler_scaled and not loss.scaler_stepped and info.steps <= 3:
        probe.findings.report(
            "TLR02",
            "GradScaler scaled the loss but the optimizer stepped without "
            "scaler.step(optimizer): it applies gradients multiplied by the scale factor "
            "(call scaler.step(optimizer) and scaler.update() instead of optimizer.step())",
            probe.sites.user_site(),
            "error",
            key="scaler",
        )
    loss.scaler_scaled = False
    loss.scaler_stepped = False


# ----------------------------------------------------------------------------- TLR10


def _note_mixing_candidate(probe: Probe, mod: torch.nn.Module, args: Any, out: Any) -> None:
    """The model: the module with the most parameters that maps a float batch (leading
    dimension = a DataLoader batch size) to an output with the same leading dimension."""
    if not args or not isinstance(args[0], torch.Tensor) or not isinstance(out, torch.Tensor):
        return
    x = args[0]
    if not x.is_floating_point() or x.dim() < 2 or x.shape[0] < 2 or out.dim() < 1 or out.shape[0] != x.shape[0]:
        return
    if x.shape[0] not in probe.data.batch_dims or not torch.is_grad_enabled():
        return
    layers = probe.layers
    n = layers.param_counts.get(id(mod))
    if n is None:
        n = layers.param_counts[id(mod)] = sum(p.numel() for p in mod.parameters())
    # hooks fire inner modules first: on a tie the enclosing module (seen later) wins
    if n > 0 and (layers.mixing is None or n >= layers.mixing[2]):
        layers.mixing = (weakref.ref(mod), x.detach().clone(), n)


def _check_batch_mixing(probe: Probe) -> None:
    """TLR10: backprop from sample 0's output; any gradient on another sample's input means
    the model mixes the batch (a view/reshape where a permute was meant, a wrong batch_first).
    Run in eval mode, where batch norm does not couple samples."""
    if probe.layers.mixing is None or probe.run.nonfinite:
        return
    ref, x0, _ = probe.layers.mixing
    mod = ref()
    if mod is None:
        return
    was = mod.training
    probe.forward_hook.set(False)
    probe.run.sampling = False
    try:
        mod.eval()
        with torch.enable_grad():
            x = x0.clone().requires_grad_(True)
            out = mod(x)
            if not isinstance(out, torch.Tensor) or not out.is_floating_point() or out.shape[0] != x.shape[0]:
                return
            (g,) = torch.autograd.grad(out[0].float().sum(), x, allow_unused=True)
        if g is None:
            return
        per_sample = g[1:].detach().abs().reshape(g.shape[0] - 1, -1).sum(dim=1)
        others = int((per_sample > 0).sum())
        if others:
            probe.findings.report(
                "TLR10",
                f"the output for sample 0 of the batch depends on {others} other sample(s): "
                "a view/reshape probably mixes the batch dimension (checked by backprop in eval mode)",
                probe.sites.module_site(mod),
                "error",
            )
    except Exception:
        pass  # a model the check cannot run (odd signatures, device quirks) is not a finding
    finally:
        mod.train(was)


# ----------------------------------------------------------------------------- the end


def finalize(probe: Probe) -> None:
    """The checks that need the whole run, once."""
    run = probe.run
    if run.finalized:
        return
    run.finalized = True
    probe.findings.release_deferred()
    if not run.terminated:  # a forward and backward of the model: no time for it before SIGKILL
        _check_batch_mixing(probe)
    opts, snapshot = probe.optimizers, probe.grads.snapshot
    if opts.primary is None or snapshot is None:
        return
    params = opts.params()
    _check_registration(probe, params)
    _report_frozen(probe, params)
    # TLR03: trainable parameters the optimizer holds that never got a gradient.
    seen = probe.grads.seen
    never = [p for p in params if p.requires_grad and p.grad is None and id(p) not in seen]
    for mod, ps in probe.layers.group_by_owner(never).items():
        what = type(mod).__name__ if mod is not None else "some"
        probe.findings.report(
            "TLR03",
            f"{what} parameters ({len(ps)} tensors) never receive a gradient "
            "(layer not used in forward, or its output detached)",
            probe.sites.module_site(mod) if mod is not None else probe.loss.backward_site,
            "error",
        )
    # TLR05: parameters with gradients that did not change.
    if run.step >= 1:
        stuck = [p for p in params if id(p) in seen and id(p) in snapshot and torch.equal(p.detach(), snapshot[id(p)])]
        if stuck:
            lrs = sorted({float(g.get("lr", float("nan"))) for opt in opts.all for g in opt.param_groups})
            site = opts.sites.get(id(opts.primary)) or probe.loss.backward_site
            n_total = len([p for p in params if id(p) in seen])
            hint = (
                "learning rate is 0"
                if lrs and all(lr == 0 for lr in lrs)
                else "frozen by the optimizer settings or a different optimizer/model copy?"
            )
            probe.findings.report(
                "TLR05",
                f"{len(stuck)} of {n_total} parameter tensors received gradients but never "
                f"changed in {run.step} steps (lr={lrs}; {hint})",
                site,
                "error",
            )


def _check_registration(probe: Probe, opt_params: list[torch.Tensor]) -> None:
    """TLR04: parameters that received gradients but no optimizer holds (one finding per
    source line: two layers built on the same line are counted together; a layer built inside
    forward() is a new layer, with new parameters, at every call)."""
    leaves = probe.grads.graph_leaves
    if not leaves:
        return
    layers, sites = probe.layers, probe.sites
    opt_ids = {id(p) for p in opt_params}
    missing = [p for pid, p in leaves.items() if pid not in opt_ids and p.requires_grad]
    by_site: dict[Site | None, list[tuple[str | None, torch.Tensor, int | None, str]]] = {}
    for p in missing:
        owner = layers.param_owner.get(id(p))
        name: str | None
        site: Site | None
        mod_id: int | None
        if owner is not None:
            name, site, mod_id, pname = type(owner[0]).__name__, sites.module_site(owner[0]), id(owner[0]), owner[1]
        else:
            name, site, pname = layers.param_birth.get(id(p), (None, None, ""))
            mod_id = None
        by_site.setdefault(site or probe.loss.backward_site, []).append((name, p, mod_id, pname))
    for where, items in by_site.items():
        names = sorted({n for n, _, _, _ in items if n})
        shapes = {(n, pn, tuple(p.shape)) for n, p, _, pn in items}
        rebuilt = len(items) > len(shapes) and all(m is None for _, _, m, _ in items)
        modules = len({m for _, _, m, _ in items if m is not None})
        if rebuilt:
            tensors = len(shapes)
            n = sum(math.prod(shape) for _, _, shape in shapes)
            what = f"{', '.join(names) or 'tensors'}"
            why = (
                "a new layer is built at every call (inside forward()?), so no optimizer holds its "
                "parameters and they start from scratch each step"
            )
        else:
            tensors = len(items)
            n = sum(p.numel() for _, p, _, _ in items)
            what = (
                f"{modules} layers' ({', '.join(names)})" if modules > 1 and names else names[0] if names else "tensors"
            )
            why = "kept in a plain list/dict instead of nn.ModuleList/ModuleDict, or created after the optimizer?"
        probe.findings.report(
            "TLR04",
            f"{what} parameters ({tensors} tensors, {n} values) receive gradients but "
            f"no optimizer updates them ({why})",
            where,
            "error",
        )


def _report_frozen(probe: Probe, opt_params: list[torch.Tensor]) -> None:
    """Modules of the trained models whose parameters are frozen (requires_grad=False): the
    parent names them when the verdict is not PASS (partial freezing is often on purpose)."""
    built = list(probe.sites.modules.keys())
    trained = {id(p) for p in opt_params}
    inside: set[int] = set()
    for root in built:
        if any(id(p) in trained for p in root.parameters()):
            inside.update(id(m) for m in root.modules())
    frozen: dict[tuple[Site | None, str, tuple[str, ...]], list[list[torch.nn.Parameter]]] = {}
    for mod in built:
        if id(mod) not in inside or isinstance(mod, torch.nn.modules.loss._Loss):
            continue
        own = {n: p for n, p in mod._parameters.items() if p is not None}
        cold = {n: p for n, p in own.items() if not p.requires_grad}
        if not cold:
            continue
        # only modules inside a model the optimizer trains (a frozen teacher is not counted);
        # a module with only some of its tensors frozen (`head.weight`) names them
        part = tuple(sorted(cold)) if len(cold) < len(own) else ()
        site = probe.sites.module_site(mod)
        frozen.setdefault((site, type(mod).__name__, part), []).append(list(cold.values()))
    if not frozen or not trained:
        return
    items = []
    for (site, name, part), groups in frozen.items():
        ps = [p for g in groups for p in g]
        items.append(
            {
                "module": name,
                "modules": len(groups),
                "tensors": len(ps),
                "values": sum(p.numel() for p in ps),
                "only": list(part),
                "filename": site[0] if site else None,
                "row": site[1] if site else None,
            }
        )
    probe.channel.send({"type": "frozen_params", "modules": items[:20], "more": max(0, len(items) - 20)})
