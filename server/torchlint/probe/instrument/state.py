"""What the probe learns while the script runs, one small object per subject.

``Run``: the first optimizer's steps (the curve the parent judges) and when to stop.
``LossTrace``: what a step's loss is made of. ``Optimizers``: every optimizer and its own facts.
``DataSeen``: the batches. ``Layers``: the model as the sampled forward hook saw it and who owns
each parameter. ``Gradients``: what the gradients did. ``SampledForwardHook``: the global
forward hook, on for sampled iterations only.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch.utils.hooks import RemovableHandle

Site = tuple[str, int]  # (absolute filename, line) in the user's files
# Gradient checks run on these iterations (1-based) and on the last one; sampling keeps
# the per-step overhead small.
EARLY_SAMPLES = (1, 2, 3)
SAMPLE_EVERY = 25


class StopProbe(BaseException):
    """Raised from the post-step hook once enough steps ran."""


class Run:
    """The steps of the first optimizer that steps (the primary): the loss curve the parent
    judges, which iterations are sampled, and how the run ends."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.step = 0
        self.losses: list[float | None] = []
        self.step_times: list[float] = []
        self.pending: list[float] = []  # loss values of the backwards since the last optimizer step
        self.sampling = True  # iteration 1 is sampled
        self.nonfinite = False  # an Inf/NaN loss or gradient was seen
        self.device = "cpu"
        self.finalized = False
        self.terminated = False  # SIGTERM from the parent: no time for the slow end checks
        self.start = time.perf_counter()

    def sample_next(self) -> bool:
        nxt = self.step + 1
        self.sampling = nxt in EARLY_SAMPLES or nxt % SAMPLE_EVERY == 0 or nxt == self.target
        return self.sampling


class LossTrace:
    """What the step's loss is made of: the loss functions' outputs since the last backward,
    GradScaler's factor, and where backward() is called."""

    RECORDED_LIMIT = 64  # metrics computed with grad on; keep the list bounded
    SCALED_LIMIT = 8

    def __init__(self) -> None:
        self.recorded: list[tuple[torch.Tensor, str]] = []  # (loss tensor, loss name) since last backward
        self.scaled: list[tuple[torch.Tensor, torch.Tensor]] = []  # GradScaler.scale: (output, input)
        self.first_sources: list[str] | None = None  # the loss functions of the first backward
        self.class_loss: dict[str, Any] | None = None  # the first cross_entropy/nll_loss: classes, smoothing
        self.backward_seen = False
        self.backward_site: Site | None = None  # the first backward's line in the user's files
        self.last_backward_site: Site | None = None  # the latest early backward's (TLR07, per optimizer)
        self.scaler_scaled = False  # GradScaler.scale ran since the last optimizer step
        self.scaler_stepped = False  # GradScaler.step/unscale_ ran since the last one

    def record(self, out: Any, name: str) -> None:
        """A loss function returned `out`: a candidate for the value of the next backward."""
        if not isinstance(out, torch.Tensor) or not out.requires_grad or out.numel() != 1:
            return
        for t, _ in self.recorded:
            if t is out:
                return
        self.recorded.append((out, name))
        if len(self.recorded) > self.RECORDED_LIMIT:
            del self.recorded[: self.RECORDED_LIMIT // 2]

    def note_scaled(self, output: torch.Tensor, original: torch.Tensor) -> None:
        self.scaled.append((output, original))
        if len(self.scaled) > self.SCALED_LIMIT:
            del self.scaled[0]

    def unscaled(self, t: torch.Tensor) -> torch.Tensor:
        """`t` without GradScaler's factor, when GradScaler produced it."""
        for out, inp in self.scaled:
            if out is t:
                return inp
        return t


class OptimizerFacts:
    """One optimizer: its own step count, loss curve and gradient-clearing state (TLR07)."""

    def __init__(self, index: int, opt: torch.optim.Optimizer) -> None:
        self.index = index
        self.name = type(opt).__name__
        self.steps = 0
        self.clean = True  # its gradients were seen cleared since its last step
        self.backward_site: Site | None = None
        self.reaches: set[int] = set()  # indices of other optimizers whose parameters its loss reaches
        self.param_ids = {id(p) for g in opt.param_groups for p in g["params"]}
        # the lr it was built with (schedulers and hand-written warmups change param_groups only)
        defaults = getattr(opt, "defaults", None)
        lr = defaults.get("lr") if isinstance(defaults, dict) else None
        self.base_lr = float(lr) if isinstance(lr, (int, float)) else None


class Optimizers:
    """Every optimizer the script built or stepped, where it was built, and its own facts."""

    def __init__(self) -> None:
        self.all: weakref.WeakSet[torch.optim.Optimizer] = weakref.WeakSet()
        self.sites: dict[int, Site | None] = {}  # id(optimizer) -> the line that built it
        self.facts: dict[int, OptimizerFacts] = {}  # id(optimizer) -> its facts, in step order
        self.primary: torch.optim.Optimizer | None = None  # the first one that stepped: the curve

    def facts_of(self, opt: torch.optim.Optimizer) -> OptimizerFacts:
        info = self.facts.get(id(opt))
        if info is None:
            info = self.facts[id(opt)] = OptimizerFacts(len(self.facts), opt)
            self.all.add(opt)
        return info

    def params(self) -> list[torch.Tensor]:
        """The parameters every optimizer holds, each once."""
        seen: dict[int, torch.Tensor] = {}
        for opt in list(self.all):
            for group in opt.param_groups:
                for p in group["params"]:
                    seen[id(p)] = p
        return list(seen.values())

    def label(self, info: OptimizerFacts) -> str:
        """How a message names the optimizer (the parent turns `Adam #1` into the script's name)."""
        return "optimizer" if len(self.facts) < 2 else f"{info.name} #{info.index + 1}"


class DataSeen:
    """The batches the script trained on."""

    def __init__(self) -> None:
        self.dataloader_seen = False
        self.loader_len: int | None = None  # len() of the first loader that gave a batch
        self.batch_dims: set[int] = set()  # leading dims of the frozen batches


class Layers:
    """The model as the sampled forward hook saw it, and who owns each parameter."""

    PARAM_BIRTH_LIMIT = 200000

    def __init__(self) -> None:
        self.order: list[weakref.ref[torch.nn.Module]] = []  # modules with own params, call order
        self.ids: set[int] = set()
        self.eval_in_training: dict[int, torch.nn.Module] = {}  # Dropout/BatchNorm in eval mode under grad
        self.param_counts: dict[int, int] = {}
        # TLR10: (the model, its input, its parameter count)
        self.mixing: tuple[weakref.ref[torch.nn.Module], torch.Tensor, int] | None = None
        self.param_owner: dict[int, tuple[torch.nn.Module, str]] = {}
        # where the owning layer was built, kept without a reference to the layer: a layer built
        # inside forward() is gone by the end of the run (TLR04)
        self.param_birth: dict[int, tuple[str, Site | None, str]] = {}

    def saw(self, mod: torch.nn.Module) -> None:
        if mod._parameters and id(mod) not in self.ids:
            self.ids.add(id(mod))
            self.order.append(weakref.ref(mod))

    def index_owners(self, built: Iterable[torch.nn.Module]) -> None:
        """Owners of the parameters of the modules built in the user's files and seen in forward."""
        for mod in built:
            self._own(mod)
        for ref in self.order:
            seen = ref()
            if seen is not None:
                self._own(seen)

    def _own(self, mod: torch.nn.Module) -> None:
        for name, p in mod._parameters.items():
            if p is not None:
                self.param_owner.setdefault(id(p), (mod, name))

    def label(self, p: torch.Tensor) -> str:
        owner = self.param_owner.get(id(p))
        if owner is None:
            return f"tensor{tuple(p.shape)}"
        mod, name = owner
        return f"{type(mod).__name__}.{name}{tuple(p.shape)}"

    def group_by_owner(self, params: list[torch.Tensor]) -> dict[torch.nn.Module | None, list[torch.Tensor]]:
        """Parameters grouped by the module that owns them (None when unknown)."""
        groups: dict[torch.nn.Module | None, list[torch.Tensor]] = {}
        for p in params:
            owner = self.param_owner.get(id(p))
            groups.setdefault(owner[0] if owner else None, []).append(p)
        return groups


class Gradients:
    """What the gradients did: which parameters received one, and what backward reached."""

    def __init__(self) -> None:
        self.snapshot: dict[int, torch.Tensor] | None = None  # values before their optimizer's first step
        self.seen: set[int] = set()  # parameters that received a gradient that can move them
        self.graph_leaves: dict[int, torch.nn.Parameter] = {}  # reached by early backwards (TLR04)
        self.pending_leaves: set[int] = set()  # ... by the backwards since the last step


class SampledForwardHook:
    """The global module forward hook costs every module call a slower path: it is installed
    only for sampled iterations. Under torch.compile it stays (dynamo guards on the global hooks)."""

    def __init__(self) -> None:
        self.hook: Callable[[torch.nn.Module, Any, Any], None] | None = None
        self.handle: RemovableHandle | None = None
        self.compiled = False

    def set(self, on: bool) -> None:
        if on and self.handle is None and self.hook is not None:
            self.handle = torch.nn.modules.module.register_module_forward_hook(self.hook)
        elif not on and self.handle is not None and not self.compiled:
            self.handle.remove()
            self.handle = None
