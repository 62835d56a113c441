"""What the probe changes in torch (and in `warnings`) before the script runs. Each wrapper
records what it saw into the probe and hands over to the original; instrumentation must never
break the user's script, so a wrapper's own errors are swallowed or reported as warnings."""

from __future__ import annotations

import os
import warnings
from typing import Any

import torch
import torch.optim.optimizer as _optimizer_mod  # the global step hooks live here

from . import checks, steps
from .freeze import patch_dataloader
from .probe import Probe
from .state import StopProbe

_FUNCTIONAL_LOSSES = (
    "cross_entropy",
    "nll_loss",
    "mse_loss",
    "l1_loss",
    "smooth_l1_loss",
    "huber_loss",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "kl_div",
    "poisson_nll_loss",
    "gaussian_nll_loss",
    "soft_margin_loss",
    "multilabel_soft_margin_loss",
    "margin_ranking_loss",
    "hinge_embedding_loss",
    "cosine_embedding_loss",
    "multi_margin_loss",
    "triplet_margin_loss",
    "ctc_loss",
)
_CLASS_LOSSES = ("cross_entropy", "nll_loss")
_RUNTIME_WARNING_LIMIT = 20


def install(probe: Probe) -> None:
    """Every patch and global hook, in the order the hooks must fire."""
    _patch_module_init(probe)
    _patch_optimizer_init(probe)
    patch_dataloader(probe.data, probe.channel)
    _patch_functional_losses(probe)
    _patch_grad_scaler(probe)
    _patch_backward(probe)
    _optimizer_mod.register_optimizer_step_pre_hook(steps.step_pre_hook(probe))
    _optimizer_mod.register_optimizer_step_post_hook(steps.step_post_hook(probe))
    _patch_loss_modules(probe)
    _patch_compile(probe)
    _patch_warnings(probe)
    probe.replay.install()
    probe.forward_hook.hook = checks.forward_observer(probe)
    probe.forward_hook.set(True)  # iteration 1 is sampled


def _patch_module_init(probe: Probe) -> None:
    """`nn.Module.__init__` and `register_parameter`: where each module and parameter was built."""
    sites, layers = probe.sites, probe.layers
    orig = torch.nn.Module.__init__

    def __init__(self: torch.nn.Module, *args: Any, **kwargs: Any) -> None:
        orig(self, *args, **kwargs)
        try:
            site = sites.construction_site(self)
            sites.class_site(type(self))  # while the script's __main__ is still importable
            if site is not None and self not in sites.modules:
                sites.modules[self] = site
        except Exception:
            pass

    torch.nn.Module.__init__ = __init__  # type: ignore[method-assign]

    orig_register = torch.nn.Module.register_parameter

    def register_parameter(self: torch.nn.Module, name: str, param: torch.nn.Parameter | None) -> None:
        orig_register(self, name, param)
        try:
            if param is not None and len(layers.param_birth) < layers.PARAM_BIRTH_LIMIT:
                layers.param_birth[id(param)] = (type(self).__name__, sites.construction_site(self), name)
        except Exception:
            pass

    torch.nn.Module.register_parameter = register_parameter  # type: ignore[method-assign]


def _patch_optimizer_init(probe: Probe) -> None:
    """`Optimizer.__init__`: every optimizer and the line that built it."""
    opts, sites = probe.optimizers, probe.sites
    orig = torch.optim.Optimizer.__init__

    def __init__(self: torch.optim.Optimizer, *args: Any, **kwargs: Any) -> None:
        orig(self, *args, **kwargs)
        try:
            opts.all.add(self)
            if id(self) not in opts.sites:
                opts.sites[id(self)] = sites.user_site()
        except Exception:
            pass

    torch.optim.Optimizer.__init__ = __init__  # type: ignore[method-assign]


def _patch_functional_losses(probe: Probe) -> None:
    """`torch.nn.functional` losses: what they return (the step's loss), the classes of the
    first classification loss, and the data they receive when batches are made by hand."""
    F = torch.nn.functional
    replay, loss = probe.replay, probe.loss

    def make(orig: Any, name: str) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if replay.active and replay.depth == 0 and torch.is_grad_enabled() and not torch.compiler.is_compiling():
                try:
                    args = replay.replay(wrapper, f"F.{name}", args) or args
                except Exception:
                    pass
            out = orig(*args, **kwargs)
            if not torch.compiler.is_compiling():
                try:
                    loss.record(out, name)
                    if name in _CLASS_LOSSES and loss.class_loss is None and args:
                        steps.note_class_loss(probe, name, args[0], kwargs)
                except Exception:
                    pass
            return out

        wrapper.__wrapped__ = orig  # type: ignore[attr-defined]
        wrapper.__name__ = orig.__name__
        wrapper.__doc__ = orig.__doc__
        return wrapper

    for name in _FUNCTIONAL_LOSSES:
        orig = getattr(F, name, None)
        if orig is not None:
            setattr(F, name, make(orig, name))


def _patch_loss_modules(probe: Probe) -> None:
    """Record what loss modules return (custom `_Loss` subclasses that do not call F.*)."""
    cls = torch.nn.modules.loss._Loss
    orig_call = torch.nn.Module.__call__
    loss = probe.loss

    def __call__(self: torch.nn.Module, *args: Any, **kwargs: Any) -> Any:
        out = orig_call(self, *args, **kwargs)
        if not torch.compiler.is_compiling():
            try:
                loss.record(out, type(self).__name__)
            except Exception:
                pass
        return out

    cls.__call__ = __call__  # type: ignore[method-assign]


def _patch_compile(probe: Probe) -> None:
    """`torch.compile`: from then on the sampled forward hook stays installed."""
    orig = torch.compile
    hook = probe.forward_hook

    def compile(*args: Any, **kwargs: Any) -> Any:
        hook.compiled = True
        hook.set(True)
        return orig(*args, **kwargs)

    compile.__wrapped__ = orig  # type: ignore[attr-defined]
    compile.__doc__ = orig.__doc__
    torch.compile = compile


def _patch_grad_scaler(probe: Probe) -> None:
    """GradScaler.scale(outputs) -> outputs, to undo the factor for hand-written losses; and
    whether scaler.step/unscale_ ran before the optimizer stepped (TLR02)."""
    cls = getattr(torch.amp, "GradScaler", None)
    if cls is None:
        return
    loss = probe.loss
    orig = cls.scale

    def scale(self: Any, outputs: Any) -> Any:
        res = orig(self, outputs)
        if res is not outputs:
            loss.scaler_scaled = True
        if isinstance(outputs, torch.Tensor) and isinstance(res, torch.Tensor) and res is not outputs:
            loss.note_scaled(res, outputs)
        return res

    cls.scale = scale

    def marking(orig: Any) -> Any:
        def call(self: Any, *args: Any, **kwargs: Any) -> Any:
            loss.scaler_stepped = True
            return orig(self, *args, **kwargs)

        call.__wrapped__ = orig  # type: ignore[attr-defined]
        return call

    for name in ("step", "unscale_"):
        setattr(cls, name, marking(getattr(cls, name)))


def _patch_backward(probe: Probe) -> None:
    """`torch.autograd.backward` (`Tensor.backward` goes through it): the step's loss."""
    orig = torch.autograd.backward

    def backward(tensors: Any, *args: Any, **kwargs: Any) -> Any:
        if not torch.compiler.is_compiling():
            try:
                steps.on_backward(probe, tensors)
            except StopProbe:
                raise
            except Exception as exc:  # instrumentation must never break the user's script
                probe.channel.warn(f"probe backward hook: {exc!r}")
        return orig(tensors, *args, **kwargs)

    backward.__wrapped__ = orig  # type: ignore[attr-defined]
    torch.autograd.backward = backward


def _patch_warnings(probe: Probe) -> None:
    """PyTorch's own warnings (a target broadcast against the output, lr-scheduler order) are
    often the reason a loss does not fall: pass them to the parent with the user's line."""
    orig = warnings.showwarning
    sites, run, channel = probe.sites, probe.run, probe.channel
    sent = [0]

    def showwarning(message: Any, category: Any, filename: str, lineno: int, *args: Any, **kwargs: Any) -> Any:
        try:
            if sent[0] < _RUNTIME_WARNING_LIMIT:
                sent[0] += 1
                site = (os.path.abspath(filename), lineno) if sites.is_user_file(filename) else sites.user_site()
                channel.send(
                    {
                        "type": "runtime_warning",
                        "message": str(message)[:500],
                        "category": getattr(category, "__name__", str(category)),
                        "filename": site[0] if site else None,
                        "row": site[1] if site else None,
                        "step": run.step + 1,
                    }
                )
        except Exception:
            pass
        return orig(message, category, filename, lineno, *args, **kwargs)

    warnings.showwarning = showwarning
