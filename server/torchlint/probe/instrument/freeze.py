"""The one repeated batch: a DataLoader yields clones of its first batch; batches made by hand
(no DataLoader) are recorded at the first training forward and replayed at every later one."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
from torch.utils.data import DataLoader
from torch.utils.hooks import RemovableHandle

from .channel import Channel
from .state import DataSeen

_EMPTY = object()  # a loader without a single batch


def tensors_of(obj: Any, depth: int = 0) -> list[torch.Tensor]:
    if isinstance(obj, torch.Tensor):
        return [obj]
    if depth < 3 and isinstance(obj, (list, tuple)):
        return [t for o in obj for t in tensors_of(o, depth + 1)]
    if depth < 3 and isinstance(obj, dict):
        return [t for o in obj.values() for t in tensors_of(o, depth + 1)]
    return []


def clone_batch(obj: Any) -> Any:
    if isinstance(obj, torch.Tensor):
        return obj.clone()
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):
        return type(obj)(*(clone_batch(x) for x in obj))
    if isinstance(obj, (list, tuple)):
        return type(obj)(clone_batch(x) for x in obj)
    if isinstance(obj, dict):
        try:
            return type(obj)((k, clone_batch(v)) for k, v in obj.items())
        except TypeError:
            return {k: clone_batch(v) for k, v in obj.items()}
    return obj


def patch_dataloader(data: DataSeen, channel: Channel) -> None:
    """`DataLoader.__iter__` (on the class): the first batch is cached and every iteration
    yields clones of it `len(loader)` times."""
    orig_iter = DataLoader.__iter__
    # Keyed by dataset (and batch size), not by loader: scripts that build a new DataLoader
    # every epoch must still see the same batch. Values keep the dataset alive on purpose.
    batches: dict[tuple[int, Any], tuple[Any, Any]] = {}

    def __iter__(self: DataLoader[Any]) -> Any:
        if torch.compiler.is_compiling():
            return orig_iter(self)
        key = (id(self.dataset), self.batch_size)
        if key not in batches:
            it = orig_iter(self)
            try:
                batch = next(it)
            except StopIteration:
                batch = _EMPTY
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
        if batch is not _EMPTY:
            data.batch_dims.update(t.shape[0] for t in tensors_of(batch) if t.dim() >= 1)
        if not data.dataloader_seen and batch is not _EMPTY:
            data.dataloader_seen = True
            data.loader_len = n
            channel.send({"type": "loader", "len": n})
        return _repeat(batch, n)

    DataLoader.__iter__ = __iter__  # type: ignore[method-assign]


def _repeat(batch: Any, n: int | None) -> Iterator[Any]:
    if batch is _EMPTY:
        return
    i = 0
    while n is None or i < n:
        yield clone_batch(batch)
        i += 1


class Replay:
    """Freezes batches that no DataLoader produced (nanoGPT's get_batch(), tensor slicing, a
    list or a custom iterator): the tensors a training forward of a top-level module (the
    model, a loss module) or a functional loss receives as data are recorded the first time
    and replayed, same shape and dtype, at every later call in the same position.

    "Data" is a tensor argument that does not require grad and is not (a view of) the output
    of a module called in the same step: `D(fake.detach())` in a GAN keeps its fresh input.
    Calls are keyed by (module, n-th data call of that module since the first optimizer's last
    step). Active only when no DataLoader was iterated before the first training forward."""

    def __init__(self, data: DataSeen) -> None:
        self.data = data
        self.active: bool | None = None  # None: undecided until the first training forward
        self.depth = 0
        self.calls: dict[int, int] = {}
        self.recorded: dict[tuple[int, int], list[tuple[int, torch.Tensor]]] = {}
        self.out_ptrs: set[int] = set()
        self.described: list[str] = []
        self.mismatch = 0
        self.replayed = 0
        self.handles: list[RemovableHandle] = []

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

    def pre(self, mod: torch.nn.Module, args: Any) -> Any:
        if torch.compiler.is_compiling():
            return None
        self.depth += 1
        if self.depth != 1 or not torch.is_grad_enabled():
            return None
        if self.active is None:
            self.active = not self.data.dataloader_seen
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

    def post(self, mod: torch.nn.Module, args: Any, out: Any) -> None:
        if torch.compiler.is_compiling():
            return
        self.depth = max(0, self.depth - 1)
        if self.depth == 0 and self.active:
            for t in tensors_of(out):
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

    def replay(self, owner: object, label: str, args: Any) -> Any:
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
                    self.data.batch_dims.add(int(args[i].shape[0]))
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
        if self.data.dataloader_seen:
            return {"how": "dataloader", "calls": []}
        if not self.active or not self.recorded:
            return None
        return {"how": "replay", "calls": self.described, "replayed": self.replayed, "mismatched": self.mismatch}
