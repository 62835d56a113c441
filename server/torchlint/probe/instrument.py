"""Child side of the overfit check: runs the user's script with one repeated batch.

This module runs inside the *user's* interpreter, in a subprocess started by
``torchlint.probe.runner``. It must import only the standard library and torch, because
torchlint itself may not be installed there: the runner loads this file by path under the
private module name ``_torchlint_probe_instrument`` (an importable module, never
``__main__``: torch.compile fails on hooks defined in ``__main__``).

What it patches (all verified on torch 2.13 CPU, see docs/overfit.md):

* ``DataLoader.__iter__`` (on the class): the first batch of each loader is cached and the
  loader yields clones of it ``len(loader)`` times, so every step sees the same batch.
* global optimizer step pre/post hooks: count steps, check gradients, and raise the private
  ``_StopProbe`` (a ``BaseException``, so ``except Exception`` in the script cannot swallow
  it) after the requested number of steps.
* ``torch.autograd.backward`` (``Tensor.backward`` goes through it): the loss of the step.
  The tensor given to backward may be scaled (GradScaler) or divided (gradient accumulation),
  so the recorded value is the one the loss *function* returned: loss modules (``_Loss``
  subclasses, via a wrapped ``_Loss.__call__``) and ``torch.nn.functional`` losses are recorded,
  and at backward the recorded outputs that the backward tensor's autograd graph reaches are
  summed. A hand-written loss (no loss function) falls back to the backward tensor itself,
  with GradScaler's factor removed.
* a global module forward hook, installed only for sampled iterations (1-3, every 25th, the
  last; permanently once torch.compile is called, because dynamo guards on global hooks):
  train/eval mode of Dropout/BatchNorm, dead ReLUs, the order of layers (first/last layer
  for gradient ratios). ``_Loss.__call__`` is wrapped to record loss-module outputs.
* ``nn.Module.__init__`` and ``Optimizer.__init__``: where each module and optimizer was
  built in the user's files, so findings point at source lines.

Messages go to the parent as JSON lines on the file descriptor named by
``TORCHLINT_PROBE_FD`` (never the script's stdout).
"""

from __future__ import annotations

import json
import math
import os
import runpy
import signal
import sys
import sysconfig
import time
import traceback
import warnings
import weakref
from typing import Any

import torch
import torch.optim.optimizer as _optimizer_mod  # the global step hooks live here
from torch.utils.data import DataLoader

# Thresholds from AUTOTRAINER / DeepDiagnosis (see docs/overfit.md).
VANISHING_RATIO = 1e-3
VANISHING_FIRST_NORM = 1e-4
EXPLODING_RATIO = 70.0
DEAD_RELU_FRACTION = 0.70
# Gradient checks run on these iterations (1-based) and on the last one; sampling keeps
# the per-step overhead small.
EARLY_SAMPLES = (1, 2, 3)
SAMPLE_EVERY = 25
GRAPH_NODE_BUDGET = 20000
PARAM_BIRTH_LIMIT = 200000
SIGNIFICANT_GRAD = 1e-6  # relative to the parameter's largest value

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


class _StopProbe(BaseException):
    """Raised from the post-step hook once enough steps ran."""


class _Terminated(BaseException):
    """Raised by the SIGTERM handler (the parent's timeout or cancel): report what is known
    (findings at the end of the run, the frozen batch) before the parent's SIGKILL."""


def _on_sigterm(signum: int, frame: Any) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second TERM ends the process
    raise _Terminated()


def _is_compiling() -> bool:
    return torch.compiler.is_compiling()


class _Channel:
    """JSON lines to the parent. Step messages are batched (at most every FLUSH_SECONDS): a
    write per step wakes the reader every step, and on a busy machine each wake-up costs the
    training process milliseconds of scheduling delay (measured: 2 ms -> 8 ms per step)."""

    FLUSH_SECONDS = 0.2

    def __init__(self, fd: int | None) -> None:
        self.fd = fd
        self.buffer: list[bytes] = []
        self.last_flush = 0.0

    def send(self, obj: dict[str, Any], batch: bool = False) -> None:
        if self.fd is None:
            return
        self.buffer.append((json.dumps(obj, default=str) + "\n").encode())
        now = time.perf_counter()
        if not batch or now - self.last_flush >= self.FLUSH_SECONDS:
            self.flush()
            self.last_flush = now

    def flush(self) -> None:
        data = b"".join(self.buffer)
        self.buffer = []
        try:
            while data and self.fd is not None:
                n = os.write(self.fd, data)
                data = data[n:]
        except OSError:
            self.fd = None  # parent went away; keep the script alive, it will be killed


class _State:
    def __init__(self, target: int, script: str) -> None:
        self.target = target
        self.script = os.path.abspath(script)
        self.user_roots = {os.path.dirname(self.script), os.getcwd()}
        self.step = 0
        self.losses: list[float | None] = []
        self.step_times: list[float] = []
        self.pending: list[float] = []
        self.recorded: list[tuple[Any, str]] = []  # (loss tensor, loss name) since last backward
        self.sampling = True  # iteration 1 is sampled
        self.primary: Any = None
        self.optimizers: weakref.WeakSet = weakref.WeakSet()
        self.optimizer_sites: dict[int, tuple[str, int] | None] = {}
        self.module_sites: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self.param_owner: dict[int, tuple[Any, str]] = {}
        self.layer_order: list[Any] = []  # weakrefs to modules with own params, call order
        self.layer_ids: set[int] = set()
        self.mode_calls: dict[int, tuple[Any, bool]] = {}  # module id -> (module, eval+grad)
        self.dataloader_seen = False
        self.loader_len: int | None = None
        self.backward_seen = False
        self.backward_site: tuple[str, int] | None = None
        self.stepped_since_backward = False
        self.graph_params: dict[int, Any] | None = None
        self.snapshot: dict[int, Any] | None = None
        self.grad_seen: set[int] = set()
        self.first_loss_sources: list[str] | None = None
        self.ce_info: dict[str, Any] | None = None
        self.reported: set[tuple] = set()
        self.device = "cpu"
        self.finalized = False
        self.nonfinite = False
        self.hook_handle: Any = None
        self.compiled = False
        self.batch_dims: set[int] = set()  # leading dims of the DataLoader batches
        self.param_counts: dict[int, int] = {}
        self.mixing: tuple[Any, Any, int] | None = None  # (model ref, input, parameter count) for TLR10
        self.deferred: list[tuple] = []  # TLR09 findings, dropped when the run blew up
        self.opts: dict[int, _Opt] = {}  # id(optimizer) -> per-optimizer facts, in step order
        self.graph_leaves: dict[int, Any] = {}  # parameters reached by early backwards (TLR04)
        self.pending_leaves: set[int] = set()  # ... by the backwards since the last step
        self.last_backward_site: tuple[str, int] | None = None
        self.scaler_scaled = False  # GradScaler.scale ran since the last optimizer step
        self.scaler_stepped = False  # GradScaler.step/unscale_ ran since the last one
        self.warnings = 0
        self.terminated = False
        self.param_birth: dict[int, tuple[str, tuple[str, int] | None, str]] = {}
        self.start = time.perf_counter()


class _Opt:
    """One optimizer: its own step count, loss curve and gradient-clearing state (TLR07)."""

    def __init__(self, index: int, opt: Any) -> None:
        self.index = index
        self.name = type(opt).__name__
        self.steps = 0
        self.clean = True  # its gradients were seen cleared since its last step
        self.backward_site: tuple[str, int] | None = None
        self.reaches: set[int] = set()  # indices of other optimizers whose parameters its loss reaches
        self.param_ids: set[int] = set()
        # the lr it was built with (schedulers and hand-written warmups change param_groups only)
        lr = opt.defaults.get("lr") if isinstance(getattr(opt, "defaults", None), dict) else None
        self.base_lr = float(lr) if isinstance(lr, (int, float)) else None


_S: _State
_CH: _Channel
_LIB_DIRS = sorted(
    {
        os.path.abspath(p)
        for k, p in sysconfig.get_paths().items()
        if k in ("stdlib", "platstdlib", "purelib", "platlib") and p
    }
)

# ----------------------------------------------------------------------------- locations


def _is_user_file(path: str) -> bool:
    if not path or path.startswith("<"):
        return False
    path = os.path.abspath(path)
    if path == os.path.abspath(__file__):
        return False
    parts = path.split(os.sep)
    if "site-packages" in parts or "dist-packages" in parts:
        return False
    if any(path.startswith(lib + os.sep) for lib in _LIB_DIRS):
        return False
    return any(path == root or path.startswith(root + os.sep) for root in _S.user_roots)


def _user_site(skip: int = 2) -> tuple[str, int] | None:
    """Innermost frame of the call stack that lies in the user's files."""
    frame = sys._getframe(skip)
    while frame is not None:
        if _is_user_file(frame.f_code.co_filename):
            return (os.path.abspath(frame.f_code.co_filename), frame.f_lineno)
        frame = frame.f_back
    return None


def _construction_site(obj: Any) -> tuple[str, int] | None:
    """The user's line that built `obj`: the innermost user frame that is not one of obj's own
    __init__ frames (super().__init__() chains), so `model = Net()` rather than the super call."""
    frame = sys._getframe(2)
    while frame is not None:
        if _is_user_file(frame.f_code.co_filename) and frame.f_locals.get("self") is not obj:
            return (os.path.abspath(frame.f_code.co_filename), frame.f_lineno)
        frame = frame.f_back
    return None


def _module_site(mod: Any) -> tuple[str, int] | None:
    """A module class defined in the user's files -> its class line; else where it was built."""
    mod = getattr(mod, "_orig_mod", mod)  # torch.compile's wrapper -> the user's module
    return _class_site(type(mod)) or _S.module_sites.get(mod)


_CLASS_SITES: dict[type, tuple[str, int] | None] = {}


def _class_site(cls: type) -> tuple[str, int] | None:
    """The `class` line of a module class defined in the user's files (cached per class; taken
    while the script runs: after runpy returns, classes of __main__ have no source file)."""
    if cls in _CLASS_SITES:
        return _CLASS_SITES[cls]
    _CLASS_SITES[cls] = None
    modfile = getattr(sys.modules.get(cls.__module__), "__file__", None)
    if cls.__module__ == "__main__":
        modfile = _S.script
    if modfile and _is_user_file(modfile):
        import inspect

        try:
            _, line = inspect.getsourcelines(cls)
            _CLASS_SITES[cls] = (os.path.abspath(modfile), line)
        except (OSError, TypeError):
            pass
    return _CLASS_SITES[cls]


def _finding(code: str, message: str, site: tuple[str, int] | None, severity: str, key: Any = None) -> None:
    dedupe = (code, key if key is not None else site)
    if dedupe in _S.reported:
        return
    _S.reported.add(dedupe)
    _CH.send(
        {
            "type": "finding",
            "code": code,
            "message": message,
            "severity": severity,
            "filename": site[0] if site else None,
            "row": site[1] if site else None,
            # after the run (TLR03/04/05/10) the last step, not the one that never ran
            "step": _S.step if _S.finalized else _S.step + 1,
        }
    )


def _defer(*args: Any, **kwargs: Any) -> None:
    """Gradient-health findings wait for the end: after an Inf/NaN they are only noise."""
    _S.deferred.append((args, kwargs))


def _param_label(p: Any) -> str:
    owner = _S.param_owner.get(id(p))
    if owner is None:
        return f"tensor{tuple(p.shape)}"
    mod, name = owner
    return f"{type(mod).__name__}.{name}{tuple(p.shape)}"


def _group_by_owner(params: list[Any]) -> dict[Any, list[Any]]:
    """Group parameters by the module that owns them (None when unknown)."""
    groups: dict[Any, list[Any]] = {}
    for p in params:
        owner = _S.param_owner.get(id(p))
        key = owner[0] if owner else None
        groups.setdefault(key, []).append(p)
    return groups


# ----------------------------------------------------------------------------- patches


def _patch_module_init() -> None:
    orig = torch.nn.Module.__init__

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        orig(self, *args, **kwargs)
        try:
            site = _construction_site(self)
            _class_site(type(self))  # while the script's __main__ is still importable
            if site is not None and self not in _S.module_sites:
                _S.module_sites[self] = site
        except Exception:
            pass

    torch.nn.Module.__init__ = __init__  # type: ignore[method-assign]

    orig_register = torch.nn.Module.register_parameter

    def register_parameter(self: Any, name: str, param: Any) -> None:
        orig_register(self, name, param)
        try:
            if param is not None and len(_S.param_birth) < PARAM_BIRTH_LIMIT:
                # where the owning layer was built, kept without a reference to the layer: a
                # layer built inside forward() is gone by the end of the run (TLR04)
                _S.param_birth[id(param)] = (type(self).__name__, _construction_site(self), name)
        except Exception:
            pass

    torch.nn.Module.register_parameter = register_parameter  # type: ignore[method-assign]


def _patch_optimizer_init() -> None:
    orig = torch.optim.Optimizer.__init__

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        orig(self, *args, **kwargs)
        try:
            _S.optimizers.add(self)
            if id(self) not in _S.optimizer_sites:
                _S.optimizer_sites[id(self)] = _user_site(2)
        except Exception:
            pass

    torch.optim.Optimizer.__init__ = __init__  # type: ignore[method-assign]


def _clone_batch(obj: Any) -> Any:
    if isinstance(obj, torch.Tensor):
        return obj.clone()
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):
        return type(obj)(*(_clone_batch(x) for x in obj))
    if isinstance(obj, (list, tuple)):
        return type(obj)(_clone_batch(x) for x in obj)
    if isinstance(obj, dict):
        try:
            return type(obj)((k, _clone_batch(v)) for k, v in obj.items())
        except TypeError:
            return {k: _clone_batch(v) for k, v in obj.items()}
    return obj


def _patch_dataloader() -> None:
    orig_iter = DataLoader.__iter__
    # Keyed by dataset (and batch size), not by loader: scripts that build a new DataLoader
    # every epoch must still see the same batch. Values keep the dataset alive on purpose.
    batches: dict[tuple[int, Any], tuple[Any, Any]] = {}
    empty = object()

    def __iter__(self: DataLoader):  # type: ignore[no-untyped-def]
        if _is_compiling():
            return orig_iter(self)
        key = (id(self.dataset), self.batch_size)
        if key not in batches:
            it = orig_iter(self)
            try:
                batch = next(it)
            except StopIteration:
                batch = empty
            finally:
                shutdown = getattr(it, "_shutdown_workers", None)
                if shutdown is not None:
                    try:
                        shutdown()
                    except Exception:
                        pass
                del it
            batches[key] = (self.dataset, batch)
        batch = batches[key][1]
        try:
            n: int | None = len(self)
        except TypeError:
            n = None  # IterableDataset without __len__: repeat until the probe stops
        if batch is not empty:
            _S.batch_dims.update(t.shape[0] for t in _tensors_of(batch) if t.dim() >= 1)
        if not _S.dataloader_seen and batch is not empty:
            _S.dataloader_seen = True
            _S.loader_len = n
            _CH.send({"type": "loader", "len": n})
        return _repeat(batch, n, empty)

    DataLoader.__iter__ = __iter__  # type: ignore[method-assign]


def _repeat(batch: Any, n: int | None, empty: object):  # type: ignore[no-untyped-def]
    if batch is empty:
        return
    i = 0
    while n is None or i < n:
        yield _clone_batch(batch)
        i += 1


def _record_loss(out: Any, name: str) -> None:
    if not isinstance(out, torch.Tensor) or not out.requires_grad or out.numel() != 1:
        return
    for t, _ in _S.recorded:
        if t is out:
            return
    _S.recorded.append((out, name))
    if len(_S.recorded) > 64:  # metrics computed with grad on; keep the list bounded
        del _S.recorded[:32]


def _patch_functional_losses() -> None:
    F = torch.nn.functional
    for name in _FUNCTIONAL_LOSSES:
        orig = getattr(F, name, None)
        if orig is None:
            continue

        def make(orig: Any, name: str) -> Any:
            def wrapper(*args: Any, **kwargs: Any) -> Any:
                if _REPLAY.active and _REPLAY.depth == 0 and torch.is_grad_enabled() and not _is_compiling():
                    try:
                        args = _REPLAY.replay(wrapper, f"F.{name}", args) or args
                    except Exception:
                        pass
                out = orig(*args, **kwargs)
                if not _is_compiling():
                    try:
                        _record_loss(out, name)
                        if name in _CLASS_LOSSES and _S.ce_info is None and args:
                            _note_class_loss(name, args[0], kwargs)
                    except Exception:
                        pass
                return out

            wrapper.__wrapped__ = orig  # type: ignore[attr-defined]
            wrapper.__name__ = orig.__name__
            wrapper.__doc__ = orig.__doc__
            return wrapper

        setattr(F, name, make(orig, name))


def _patch_loss_modules() -> None:
    """Record what loss modules return (custom `_Loss` subclasses that do not call F.*)."""
    cls = torch.nn.modules.loss._Loss
    orig_call = torch.nn.Module.__call__

    def __call__(self: Any, *args: Any, **kwargs: Any) -> Any:
        out = orig_call(self, *args, **kwargs)
        if not _is_compiling():
            try:
                _record_loss(out, type(self).__name__)
            except Exception:
                pass
        return out

    cls.__call__ = __call__  # type: ignore[method-assign]


def _set_module_hook(on: bool) -> None:
    """The global forward hook costs every module call a slower path: install it only for
    sampled iterations. Under torch.compile it stays (dynamo guards on the global hooks)."""
    if on and _S.hook_handle is None:
        _S.hook_handle = torch.nn.modules.module.register_module_forward_hook(_global_forward_hook)
    elif not on and _S.hook_handle is not None and not _S.compiled:
        _S.hook_handle.remove()
        _S.hook_handle = None


def _patch_compile() -> None:
    orig = torch.compile

    def compile(*args: Any, **kwargs: Any) -> Any:
        _S.compiled = True
        _set_module_hook(True)
        return orig(*args, **kwargs)

    compile.__wrapped__ = orig  # type: ignore[attr-defined]
    compile.__doc__ = orig.__doc__
    torch.compile = compile


def _note_class_loss(name: str, logits: Any, kwargs: dict[str, Any]) -> None:
    if not isinstance(logits, torch.Tensor) or not logits.requires_grad or logits.dim() < 1:
        return
    classes = int(logits.shape[1] if logits.dim() >= 2 else logits.shape[0])
    _S.ce_info = {
        "loss": name,
        "classes": classes,
        "reduction": kwargs.get("reduction", "mean"),
        "label_smoothing": float(kwargs.get("label_smoothing") or 0.0),
        "site": _user_site(3),
    }


def _patch_grad_scaler() -> list[Any]:
    """Remember GradScaler.scale(outputs) -> outputs, to undo the factor for hand-written losses."""
    scaled: list[Any] = []
    cls = getattr(torch.amp, "GradScaler", None)
    if cls is None:
        return scaled
    orig = cls.scale

    def scale(self: Any, outputs: Any) -> Any:
        res = orig(self, outputs)
        if res is not outputs:
            _S.scaler_scaled = True
        if isinstance(outputs, torch.Tensor) and isinstance(res, torch.Tensor) and res is not outputs:
            scaled.append((res, outputs))
            if len(scaled) > 8:
                del scaled[0]
        return res

    cls.scale = scale
    for name in ("step", "unscale_"):
        setattr(cls, name, _marking_scaler_call(getattr(cls, name)))
    return scaled


def _marking_scaler_call(orig: Any) -> Any:
    def call(self: Any, *args: Any, **kwargs: Any) -> Any:
        _S.scaler_stepped = True
        return orig(self, *args, **kwargs)

    call.__wrapped__ = orig  # type: ignore[attr-defined]
    return call


def _graph_reaches(
    root: Any, targets: dict[Any, int], want_leaves: bool
) -> tuple[set[int], dict[int, Any] | None, bool]:
    """Walk the autograd graph from `root`: which target nodes it reaches; leaf params if asked."""
    found: set[int] = set()
    leaves: dict[int, Any] = {}
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


def _patch_backward(scaled: list[Any]) -> None:
    orig = torch.autograd.backward

    def backward(tensors: Any, *args: Any, **kwargs: Any) -> Any:
        if not _is_compiling():
            try:
                _on_backward(tensors, scaled)
            except _StopProbe:
                raise
            except Exception as exc:  # instrumentation must never break the user's script
                _CH.send({"type": "warning", "message": f"probe backward hook: {exc!r}"})
        return orig(tensors, *args, **kwargs)

    backward.__wrapped__ = orig  # type: ignore[attr-defined]
    torch.autograd.backward = backward


def _optimizer_params() -> list[Any]:
    seen: dict[int, Any] = {}
    for opt in list(_S.optimizers):
        for group in opt.param_groups:
            for p in group["params"]:
                seen[id(p)] = p
    return list(seen.values())


def _on_backward(tensors: Any, scaled: list[Any]) -> None:
    t = (
        tensors
        if isinstance(tensors, torch.Tensor)
        else (
            tensors[0]
            if isinstance(tensors, (list, tuple)) and tensors and isinstance(tensors[0], torch.Tensor)
            else None
        )
    )
    first = not _S.backward_seen
    _S.backward_seen = True
    if first or _S.backward_site is None:
        _S.backward_site = _user_site(3)
    if t is None:
        return
    if not t.requires_grad:
        params = _optimizer_params()
        if params and not any(p.requires_grad for p in params):
            site = None
            for opt in _S.optimizers:
                site = _S.optimizer_sites.get(id(opt))
            _finding(
                "TLR05",
                "every parameter given to the optimizer is frozen (requires_grad=False): nothing can be trained",
                site or _S.backward_site,
                "error",
            )
        else:
            _finding(
                "TLR03",
                "the loss does not require grad: it was computed under no_grad, "
                "detached, or from frozen parameters; no parameter receives a gradient",
                _S.backward_site,
                "error",
            )
        return

    early = _S.step <= 3
    if early or any(o.steps <= 3 for o in _S.opts.values()):
        _note_clearing()  # TLR07, per optimizer (each is checked over its own first steps)
        _S.last_backward_site = _user_site(3)
    _S.stepped_since_backward = False

    if t.numel() != 1:
        return
    value: float | None = None
    sources: list[str] = []
    leaves: dict[int, Any] | None = None
    if _S.recorded:
        targets = {rec.grad_fn: i for i, (rec, _) in enumerate(_S.recorded) if rec.grad_fn is not None}
        direct = [i for i, (rec, _) in enumerate(_S.recorded) if rec is t]
        if direct:
            found = set(direct)
            if early:
                _, leaves, _ = _graph_reaches(t.grad_fn, {}, True)
        else:
            found, leaves, _ = _graph_reaches(t.grad_fn, targets, early)
        if len(found) == 1:
            # one loss function: its own value (the backward tensor may be divided for
            # gradient accumulation or scaled by GradScaler)
            value = sum(float(_S.recorded[i][0].detach().sum().item()) for i in found)
        if found:
            sources = [_S.recorded[i][1] for i in sorted(found)]
    elif early:
        _, leaves, _ = _graph_reaches(t.grad_fn, {}, True)
    if leaves:
        _S.graph_leaves.update(leaves)
        _S.pending_leaves.update(leaves)
    if value is None:
        # a hand-written loss, or several loss terms (weighted: 0.5 * (real + fake)): the
        # tensor given to backward, with GradScaler's factor removed
        base = t
        for out, inp in scaled:
            if out is t:
                base = inp
                break
        value = float(base.detach().sum().item())
        sources = sources or ["backward"]
    _S.recorded.clear()
    if _S.first_loss_sources is None:
        _S.first_loss_sources = sources
    _S.pending.append(value)
    if not math.isfinite(value):
        _S.nonfinite = True
        _finding("TLR02", f"the loss is {value} at step {_S.step + 1}", _S.backward_site, "error", key="nonfinite")


def _global_forward_hook(mod: Any, args: Any, out: Any) -> None:
    if not _S.sampling or _is_compiling():
        return
    try:
        if _S.step == 0:
            _note_mixing_candidate(mod, args, out)
        if mod._parameters and id(mod) not in _S.layer_ids:
            _S.layer_ids.add(id(mod))
            _S.layer_order.append(weakref.ref(mod))
        if isinstance(mod, _MODE_TYPES):
            grad = torch.is_grad_enabled()
            trainable = isinstance(mod, _DROPOUT_TYPES) or any(p.requires_grad for p in mod.parameters(recurse=False))
            if grad and not mod.training and trainable:
                _S.mode_calls[id(mod)] = (mod, True)
            else:
                _S.mode_calls.pop(id(mod), None)
            if not grad and mod.training:
                kind = type(mod).__name__
                extra = (
                    " (its running statistics are updated by this data)" if not isinstance(mod, _DROPOUT_TYPES) else ""
                )
                _finding(
                    "TLR06",
                    f"{kind} is in train mode during a forward pass under no_grad "
                    f"(evaluation without model.eval()?){extra}",
                    _module_site(mod),
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
                _defer(
                    "TLR09",
                    f"dead ReLU: {dead:.0%} of the units of this ReLU output zero for "
                    f"every sample of the batch (threshold {DEAD_RELU_FRACTION:.0%})",
                    _module_site(mod),
                    "warning",
                    key=("relu", id(mod)),
                )
    except Exception:
        pass


_DROPOUT_TYPES = (torch.nn.modules.dropout._DropoutNd, torch.nn.AlphaDropout)
_MODE_TYPES = _DROPOUT_TYPES + (torch.nn.modules.batchnorm._BatchNorm,)


def _check_mode_calls() -> None:
    for mod, eval_with_grad in list(_S.mode_calls.values()):
        if eval_with_grad:
            _finding(
                "TLR06",
                f"{type(mod).__name__} is in eval mode during a training step "
                "(model.eval() without model.train() before training?)",
                _module_site(mod),
                "warning",
                key=("eval-train", id(mod)),
            )
    _S.mode_calls.clear()


def _module_grad_norm(mod: Any) -> float | None:
    total = 0.0
    any_grad = False
    for p in mod.parameters(recurse=False):
        if p.grad is not None:
            any_grad = True
            total += float(p.grad.detach().float().norm().item()) ** 2
    return math.sqrt(total) if any_grad else None


def _opt_info(opt: Any) -> _Opt:
    info = _S.opts.get(id(opt))
    if info is None:
        info = _S.opts[id(opt)] = _Opt(len(_S.opts), opt)
        info.param_ids = {id(p) for g in opt.param_groups for p in g["params"]}
        _S.optimizers.add(opt)
    return info


def _closure_of(args: Any, kwargs: Any) -> tuple[Any, str | int | None]:
    """The closure passed to optimizer.step(closure) (args[0] is the optimizer itself)."""
    if kwargs and callable(kwargs.get("closure")):
        return kwargs["closure"], "closure"
    if len(args) > 1 and callable(args[1]):
        return args[1], 1
    return None, None


def _step_pre_hook(opt: Any, args: Any, kwargs: Any) -> Any:
    if _is_compiling():
        return None
    try:
        closure, where = _closure_of(args, kwargs)
        if closure is not None:
            # Forward and backward run inside step(closure), after this hook (LBFGS, Lightning):
            # the facts "before the step" are taken once the closure has run.
            wrapped = _wrap_closure(opt, closure)
            if where == "closure":
                return args, {**kwargs, "closure": wrapped}
            return (args[0], wrapped, *args[2:]), kwargs
        _before_step(opt)
    except Exception as exc:
        _CH.send({"type": "warning", "message": f"probe step hook: {exc!r}"})
    return None


def _wrap_closure(opt: Any, closure: Any) -> Any:
    calls = [0, 0]  # closure calls so far, len(pending) after the first

    def wrapped(*a: Any, **k: Any) -> Any:
        out = closure(*a, **k)
        calls[0] += 1
        if calls[0] == 1:
            calls[1] = len(_S.pending)
            try:
                _before_step(opt)
            except Exception as exc:
                _CH.send({"type": "warning", "message": f"probe step hook: {exc!r}"})
        else:
            # LBFGS evaluates the closure many times per step (line search): the step's
            # loss is the first evaluation, at the parameters the step started from.
            del _S.pending[calls[1] :]
        return out

    return wrapped


def _before_step(opt: Any) -> None:
    info = _opt_info(opt)
    info.backward_site = _S.last_backward_site or info.backward_site
    if info.steps >= 1 and info.steps <= 3 and not info.clean:
        _finding(
            "TLR07",
            "gradients from the previous step are still in .grad when "
            "backward() runs again: they accumulate across optimizer steps "
            f"(missing {_opt_label(info)}.zero_grad()?)",
            info.backward_site or _S.backward_site,
            "error",
            key=("TLR07", info.index),
        )
    if _S.primary is None:
        _S.primary = opt
        params = _optimizer_params()
        if params:
            _S.device = str(params[0].device)
        _index_param_owners()
    if _S.snapshot is None:
        _S.snapshot = {}
    if info.steps == 0:
        for g in opt.param_groups:
            for p in g["params"]:
                _S.snapshot.setdefault(id(p), p.detach().clone())
    if opt is not _S.primary or not _S.sampling:
        return
    _check_mode_calls()
    params = _optimizer_params()
    for p in params:
        g = p.grad
        if g is None:
            continue
        # "Received a gradient" means one that can move the parameter: a vanishing 1e-13
        # gradient leaves float32 weights bitwise unchanged, which is TLR09, not TLR05.
        if float(g.detach().abs().max()) > SIGNIFICANT_GRAD * (float(p.detach().abs().max()) + 1e-12):
            _S.grad_seen.add(id(p))
        if not bool(torch.isfinite(g).all()):
            owner = _S.param_owner.get(id(p))
            _finding(
                "TLR02",
                f"NaN/Inf in the gradient of {_param_label(p)} at step {_S.step + 1}",
                _module_site(owner[0]) if owner else _S.backward_site,
                "error",
                key="nonfinite",
            )
            _S.nonfinite = True
            break
    _check_gradient_ratio()


def _opt_label(info: _Opt) -> str:
    return "optimizer" if len(_S.opts) < 2 else f"{info.name} #{info.index + 1}"


def _note_clearing() -> None:
    """Before a backward: an optimizer whose gradients are all None/zero now was cleared
    since its last step (per optimizer: a GAN clears D before D's backward, G before G's)."""
    for opt in list(_S.optimizers):
        info = _S.opts.get(id(opt))
        if info is None or info.clean or info.steps > 3:
            continue
        if all(p.grad is None or not bool(p.grad.detach().ne(0).any()) for g in opt.param_groups for p in g["params"]):
            info.clean = True


def _index_param_owners() -> None:
    for mod in list(_S.module_sites.keys()):
        for name, p in mod._parameters.items():
            if p is not None:
                _S.param_owner.setdefault(id(p), (mod, name))
    for ref in _S.layer_order:
        mod = ref()
        if mod is not None:
            for name, p in mod._parameters.items():
                if p is not None:
                    _S.param_owner.setdefault(id(p), (mod, name))


def _check_registration(opt_params: list[Any]) -> None:
    """TLR04: parameters that received gradients but no optimizer holds (one finding per
    source line: two layers built on the same line are counted together; a layer built inside
    forward() is a new layer, with new parameters, at every call)."""
    if not _S.graph_leaves:
        return
    opt_ids = {id(p) for p in opt_params}
    missing = [p for pid, p in _S.graph_leaves.items() if pid not in opt_ids and p.requires_grad]
    by_site: dict[Any, list[tuple[str | None, Any, int | None, str]]] = {}
    for p in missing:
        owner = _S.param_owner.get(id(p))
        if owner is not None:
            name, site, mod_id, pname = type(owner[0]).__name__, _module_site(owner[0]), id(owner[0]), owner[1]
        else:
            name, site, pname = _S.param_birth.get(id(p), (None, None, ""))
            mod_id = None
        by_site.setdefault(site or _S.backward_site, []).append((name, p, mod_id, pname))
    for site, items in by_site.items():
        names = sorted({n for n, _, _, _ in items if n})
        shapes = {(n, pn, tuple(p.shape)) for n, p, _, pn in items}
        rebuilt = len(items) > len(shapes) and all(m is None for _, _, m, _ in items)
        layers = len({m for _, _, m, _ in items if m is not None})
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
                f"{layers} layers' ({', '.join(names)})" if layers > 1 and names else names[0] if names else "tensors"
            )
            why = "kept in a plain list/dict instead of nn.ModuleList/ModuleDict, or created after the optimizer?"
        _finding(
            "TLR04",
            f"{what} parameters ({tensors} tensors, {n} values) receive gradients but "
            f"no optimizer updates them ({why})",
            site,
            "error",
        )


def _check_gradient_ratio() -> None:
    first_loss = _S.losses[0] if _S.losses else (_S.pending[0] if _S.pending else None)
    current = _S.pending[-1] if _S.pending else None
    if (
        first_loss is not None
        and current is not None
        and math.isfinite(first_loss)
        and first_loss > 0
        and current < 0.1 * first_loss
    ):
        return  # near the optimum every gradient is small; the ratio means nothing there
    layers = []
    for ref in _S.layer_order:
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
            _defer(
                "TLR09",
                f"vanishing gradients at step {_S.step + 1}: first layer "
                f"{type(first).__name__} gradient norm {fnorm:.2e} is {ratio:.1e} x that of the "
                f"last layer {type(last).__name__} ({lnorm:.2e})",
                _module_site(first),
                "warning",
                key="vanishing",
            )
        elif ratio > EXPLODING_RATIO:
            _defer(
                "TLR09",
                f"exploding gradients at step {_S.step + 1}: first layer "
                f"{type(first).__name__} gradient norm {fnorm:.2e} is {ratio:.0f} x that of the "
                f"last layer {type(last).__name__} ({lnorm:.2e})",
                _module_site(first),
                "warning",
                key="exploding",
            )


def _step_post_hook(opt: Any, args: Any, kwargs: Any) -> None:
    if _is_compiling():
        return
    info = _opt_info(opt)
    info.steps += 1
    info.clean = False
    loss = sum(_S.pending) / len(_S.pending) if _S.pending else None
    _S.pending = []
    if _S.pending_leaves:
        for other in _S.opts.values():
            if other is not info and other.param_ids & _S.pending_leaves:
                info.reaches.add(other.index)
        _S.pending_leaves = set()
    _check_scaler(info)
    _REPLAY.new_period(opt is _S.primary)
    lr = _lr_of(opt)
    if opt is not _S.primary:
        _CH.send(
            {"type": "curve", "opt": info.index, "name": info.name, "step": info.steps, "loss": loss, "lr": lr},
            batch=True,
        )
        return
    _S.step += 1
    now = time.perf_counter()
    _S.losses.append(loss)
    _S.step_times.append(now)
    _S.stepped_since_backward = True
    _S.mode_calls.clear()
    _CH.send(
        {"type": "step", "step": _S.step, "loss": loss, "time": now - _S.start, "lr": lr}, batch=3 < _S.step < _S.target
    )  # early steps unbatched: a crash still shows them
    nxt = _S.step + 1
    _S.sampling = nxt in EARLY_SAMPLES or nxt % SAMPLE_EVERY == 0 or nxt == _S.target
    _set_module_hook(_S.sampling)
    if _S.step >= _S.target:
        raise _StopProbe()


def _lr_of(opt: Any) -> float | None:
    try:
        lr = opt.param_groups[0].get("lr")
        return float(lr.item() if isinstance(lr, torch.Tensor) else lr)
    except Exception:
        return None


def _check_scaler(info: _Opt) -> None:
    """A GradScaler scaled the loss but the optimizer stepped without scaler.step(): the
    gradients it applied were multiplied by the scale factor (65536 by default)."""
    if _S.scaler_scaled and not _S.scaler_stepped and info.steps <= 3:
        _finding(
            "TLR02",
            "GradScaler scaled the loss but the optimizer stepped without "
            "scaler.step(optimizer): it applies gradients multiplied by the scale factor "
            "(call scaler.step(optimizer) and scaler.update() instead of optimizer.step())",
            _user_site(3),
            "error",
            key="scaler",
        )
    _S.scaler_scaled = False
    _S.scaler_stepped = False


# ----------------------------------------------------------------------------- hand-made batches


class _Replay:
    """Freezes batches that no DataLoader produced (nanoGPT's get_batch(), tensor slicing, a
    list or a custom iterator): the tensors a training forward of a top-level module (the
    model, a loss module) or a functional loss receives as data are recorded the first time
    and replayed, same shape and dtype, at every later call in the same position.

    "Data" is a tensor argument that does not require grad and is not (a view of) the output
    of a module called in the same step: `D(fake.detach())` in a GAN keeps its fresh input.
    Calls are keyed by (module, n-th data call of that module since the first optimizer's last
    step). Active only when no DataLoader was iterated before the first training forward."""

    def __init__(self) -> None:
        self.active: bool | None = None  # None: undecided until the first training forward
        self.depth = 0
        self.calls: dict[int, int] = {}
        self.recorded: dict[tuple[int, int], list[tuple[int, Any]]] = {}
        self.out_ptrs: set[int] = set()
        self.described: list[str] = []
        self.mismatch = 0
        self.replayed = 0
        self.handles: list[Any] = []

    def install(self) -> None:
        mm = torch.nn.modules.module
        self.handles = [
            mm.register_module_forward_pre_hook(self.pre),
            mm.register_module_forward_hook(self.post, always_call=True),
        ]

    def uninstall(self) -> None:
        for h in self.handles:
            h.remove()
        self.handles = []

    def new_period(self, primary: bool) -> None:
        if self.active and primary:
            self.calls.clear()
            self.out_ptrs.clear()

    def pre(self, mod: Any, args: Any) -> Any:
        if _is_compiling():
            return None
        self.depth += 1
        if self.depth != 1 or not torch.is_grad_enabled():
            return None
        if self.active is None:
            self.active = not _S.dataloader_seen
            if not self.active:
                self.depth = 0
                self.uninstall()
                return None
        if not self.active:
            return None
        try:
            return self.replay(mod, type(mod).__name__ + ".forward", args)
        except Exception:
            return None

    def post(self, mod: Any, args: Any, out: Any) -> None:
        if _is_compiling():
            return
        self.depth = max(0, self.depth - 1)
        if self.depth == 0 and self.active:
            for t in _tensors_of(out):
                try:
                    self.out_ptrs.add(t.untyped_storage().data_ptr())
                except Exception:
                    pass

    def is_data(self, t: Any) -> bool:
        if not isinstance(t, torch.Tensor) or t.requires_grad:
            return False
        try:
            return t.untyped_storage().data_ptr() not in self.out_ptrs
        except Exception:
            return False

    def replay(self, owner: Any, label: str, args: Any) -> Any:
        data = [i for i, a in enumerate(args) if self.is_data(a)]
        if not data:
            return None
        k = self.calls.get(id(owner), 0)
        self.calls[id(owner)] = k + 1
        key = (id(owner), k)
        saved = self.recorded.get(key)
        if saved is None:
            self.recorded[key] = [(i, args[i].detach().clone()) for i in data]
            for i in data:
                if args[i].dim() >= 1:
                    _S.batch_dims.add(int(args[i].shape[0]))
            if len(self.described) < 8:
                parts = ", ".join(
                    f"arg {i} {tuple(args[i].shape)} {str(args[i].dtype).replace('torch.', '')}" for i in data
                )
                self.described.append(f"{label} call {k + 1}: {parts}")
            return None
        new = list(args)
        for i, t in saved:
            a = new[i] if i < len(new) else None
            if isinstance(a, torch.Tensor) and a.shape == t.shape and a.dtype == t.dtype and a.device == t.device:
                new[i] = t.clone()
                self.replayed += 1
            else:
                self.mismatch += 1
        return tuple(new)

    def describe(self) -> dict[str, Any] | None:
        if _S.dataloader_seen:
            return {"how": "dataloader", "calls": []}
        if not self.active or not self.recorded:
            return None
        return {"how": "replay", "calls": self.described, "replayed": self.replayed, "mismatched": self.mismatch}


_REPLAY = _Replay()


# ----------------------------------------------------------------------------- TLR10


def _tensors_of(obj: Any, depth: int = 0) -> list[Any]:
    if isinstance(obj, torch.Tensor):
        return [obj]
    if depth < 3 and isinstance(obj, (list, tuple)):
        return [t for o in obj for t in _tensors_of(o, depth + 1)]
    if depth < 3 and isinstance(obj, dict):
        return [t for o in obj.values() for t in _tensors_of(o, depth + 1)]
    return []


def _note_mixing_candidate(mod: Any, args: Any, out: Any) -> None:
    """The model: the module with the most parameters that maps a float batch (leading
    dimension = a DataLoader batch size) to an output with the same leading dimension."""
    if not args or not isinstance(args[0], torch.Tensor) or not isinstance(out, torch.Tensor):
        return
    x = args[0]
    if not x.is_floating_point() or x.dim() < 2 or x.shape[0] < 2 or out.dim() < 1 or out.shape[0] != x.shape[0]:
        return
    if x.shape[0] not in _S.batch_dims or not torch.is_grad_enabled():
        return
    n = _S.param_counts.get(id(mod))
    if n is None:
        n = _S.param_counts[id(mod)] = sum(p.numel() for p in mod.parameters())
    # hooks fire inner modules first: on a tie the enclosing module (seen later) wins
    if n > 0 and (_S.mixing is None or n >= _S.mixing[2]):
        _S.mixing = (weakref.ref(mod), x.detach().clone(), n)


def _check_batch_mixing() -> None:
    """TLR10: backprop from sample 0's output; any gradient on another sample's input means
    the model mixes the batch (a view/reshape where a permute was meant, a wrong batch_first).
    Run in eval mode, where batch norm does not couple samples."""
    if _S.mixing is None or _S.nonfinite:
        return
    mod, x0, _ = _S.mixing
    mod = mod()
    if mod is None:
        return
    was = mod.training
    _set_module_hook(False)
    _S.sampling = False
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
            _finding(
                "TLR10",
                f"the output for sample 0 of the batch depends on {others} other sample(s): "
                "a view/reshape probably mixes the batch dimension (checked by backprop in eval mode)",
                _module_site(mod),
                "error",
            )
    except Exception:
        pass  # a model the check cannot run (odd signatures, device quirks) is not a finding
    finally:
        mod.train(was)


# ----------------------------------------------------------------------------- the end


def _finalize() -> None:
    if _S.finalized:
        return
    _S.finalized = True
    if not _S.nonfinite:
        for args, kwargs in _S.deferred:
            _finding(*args, **kwargs)
    if not _S.terminated:  # a forward and backward of the model: no time for it before SIGKILL
        _check_batch_mixing()
    if _S.primary is None or _S.snapshot is None:
        return
    params = _optimizer_params()
    _check_registration(params)
    _report_frozen(params)
    # TLR03: trainable parameters the optimizer holds that never got a gradient.
    never = [p for p in params if p.requires_grad and p.grad is None and id(p) not in _S.grad_seen]
    for mod, ps in _group_by_owner(never).items():
        what = type(mod).__name__ if mod is not None else "some"
        _finding(
            "TLR03",
            f"{what} parameters ({len(ps)} tensors) never receive a gradient "
            "(layer not used in forward, or its output detached)",
            _module_site(mod) if mod is not None else _S.backward_site,
            "error",
        )
    # TLR05: parameters with gradients that did not change.
    if _S.step >= 1:
        stuck = [
            p
            for p in params
            if id(p) in _S.grad_seen and id(p) in _S.snapshot and torch.equal(p.detach(), _S.snapshot[id(p)])
        ]
        if stuck:
            lrs = sorted({float(g.get("lr", float("nan"))) for opt in _S.optimizers for g in opt.param_groups})
            site = _S.optimizer_sites.get(id(_S.primary)) or _S.backward_site
            n_total = len([p for p in params if id(p) in _S.grad_seen])
            hint = (
                "learning rate is 0"
                if lrs and all(lr == 0 for lr in lrs)
                else "frozen by the optimizer settings or a different optimizer/model copy?"
            )
            _finding(
                "TLR05",
                f"{len(stuck)} of {n_total} parameter tensors received gradients but never "
                f"changed in {_S.step} steps (lr={lrs}; {hint})",
                site,
                "error",
            )


def _report_frozen(opt_params: list[Any]) -> None:
    """Modules of the trained models whose parameters are frozen (requires_grad=False): the
    parent names them when the verdict is not PASS (partial freezing is often on purpose)."""
    trained = {id(p) for p in opt_params}
    inside: set[int] = set()
    for root in list(_S.module_sites.keys()):
        if any(id(p) in trained for p in root.parameters()):
            inside.update(id(m) for m in root.modules())
    frozen: dict[tuple, list] = {}
    for mod in list(_S.module_sites.keys()):
        if id(mod) not in inside or isinstance(mod, torch.nn.modules.loss._Loss):
            continue
        own = {n: p for n, p in mod._parameters.items() if p is not None}
        cold = {n: p for n, p in own.items() if not p.requires_grad}
        if not cold:
            continue
        # only modules inside a model the optimizer trains (a frozen teacher is not counted);
        # a module with only some of its tensors frozen (`head.weight`) names them
        part = tuple(sorted(cold)) if len(cold) < len(own) else ()
        site = _module_site(mod)
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
    _CH.send({"type": "frozen_params", "modules": items[:20], "more": max(0, len(items) - 20)})


def _patch_warnings() -> None:
    """PyTorch's own warnings (a target broadcast against the output, lr-scheduler order) are
    often the reason a loss does not fall: pass them to the parent with the user's line."""
    orig = warnings.showwarning

    def showwarning(message: Any, category: Any, filename: str, lineno: int, *args: Any, **kwargs: Any) -> Any:
        try:
            if _S.warnings < 20:
                _S.warnings += 1
                site = (os.path.abspath(filename), lineno) if _is_user_file(filename) else _user_site(2)
                _CH.send(
                    {
                        "type": "runtime_warning",
                        "message": str(message)[:500],
                        "category": getattr(category, "__name__", str(category)),
                        "filename": site[0] if site else None,
                        "row": site[1] if site else None,
                        "step": _S.step + 1,
                    }
                )
        except Exception:
            pass
        return orig(message, category, filename, lineno, *args, **kwargs)

    warnings.showwarning = showwarning


def _peak_memory(device: str) -> int | None:
    if device.startswith("cuda") and torch.cuda.is_available():
        try:
            return int(torch.cuda.max_memory_allocated())
        except Exception:
            pass
    try:
        import resource

        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return int(rss if sys.platform == "darwin" else rss * 1024)
    except Exception:
        return None


def _error_info(exc: BaseException) -> dict[str, Any]:
    site = None
    for frame, lineno in traceback.walk_tb(exc.__traceback__):
        if _is_user_file(frame.f_code.co_filename):
            site = (os.path.abspath(frame.f_code.co_filename), lineno)
    tb = traceback.format_exception(type(exc), exc, exc.__traceback__)
    return {
        "type": type(exc).__name__,
        "message": str(exc),
        "filename": site[0] if site else None,
        "row": site[1] if site else None,
        "traceback": "".join(tb)[-8000:],
    }


def _send_end(reason: str, error: dict[str, Any] | None = None, exit_code: Any = None) -> None:
    try:
        _finalize()
    except Exception as exc:
        _CH.send({"type": "warning", "message": f"probe finalize: {exc!r}"})
    info = {
        "type": "end",
        "reason": reason,
        "error": error,
        "exit_code": exit_code,
        "steps": _S.step,
        "device": _S.device,
        "peak_memory_bytes": _peak_memory(_S.device),
        "dataloader_seen": _S.dataloader_seen,
        "loader_len": _S.loader_len,
        "backward_seen": _S.backward_seen,
        "optimizer_seen": _S.primary is not None,
        "backward_site": list(_S.backward_site) if _S.backward_site else None,
        "first_loss_sources": _S.first_loss_sources,
        "class_loss": _S.ce_info,
        "step_times": _S.step_times,
        "torch": torch.__version__,
        "optimizers": [
            {
                "index": o.index,
                "name": o.name,
                "steps": o.steps,
                "reaches": sorted(o.reaches),
                "base_lr": o.base_lr,
                "site": list(_S.optimizer_sites.get(oid) or ()) or None,
            }
            for oid, o in _S.opts.items()
        ],
        "frozen_batch": _REPLAY.describe(),
    }
    _CH.send(info)


def main(argv: list[str]) -> None:
    """argv: [script, *script_args]. Never returns: exits the process with os._exit."""
    global _S, _CH
    fd_text = os.environ.pop("TORCHLINT_PROBE_FD", None)
    fd = int(fd_text) if fd_text else None
    if fd is not None:
        os.set_inheritable(fd, False)  # exec'd children must not hold the channel open
    _CH = _Channel(fd)
    target = int(os.environ.pop("TORCHLINT_PROBE_STEPS", "100"))
    script = argv[0]
    _S = _State(target, script)
    _CH.send({"type": "hello", "pid": os.getpid(), "torch": torch.__version__})

    _patch_module_init()
    _patch_optimizer_init()
    _patch_dataloader()
    _patch_functional_losses()
    _patch_backward(_patch_grad_scaler())
    _optimizer_mod.register_optimizer_step_pre_hook(_step_pre_hook)
    _optimizer_mod.register_optimizer_step_post_hook(_step_post_hook)
    _patch_loss_modules()
    _patch_compile()
    _patch_warnings()
    _REPLAY.install()
    _set_module_hook(True)  # iteration 1 is sampled

    try:
        signal.signal(signal.SIGTERM, _on_sigterm)
    except (ValueError, OSError):
        pass
    sys.argv = [script, *argv[1:]]
    sys.path[0] = os.path.dirname(os.path.abspath(script))  # as `python script.py` would
    code = 0
    try:
        runpy.run_path(script, run_name="__main__")
        _send_end("finished")
    except _StopProbe:
        _send_end("steps_done")
    except _Terminated:
        _S.terminated = True
        _send_end("terminated")
    except SystemExit as exc:
        exit_code = exc.code
        info = _error_info(exc) if _S.step == 0 else None
        _send_end("exit", info, exit_code if isinstance(exit_code, (int, type(None))) else str(exit_code))
    except KeyboardInterrupt as exc:
        _send_end("interrupted", _error_info(exc))
        code = 130
    except BaseException as exc:
        _send_end("exception", _error_info(exc))
        code = 1
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except Exception:
            pass
    # Skip interpreter shutdown: user atexit handlers, non-daemon threads and DataLoader
    # workers must not keep the probe alive; the parent kills the process group anyway.
    os._exit(code)


if __name__ == "__main__":
    main(sys.argv[1:])
