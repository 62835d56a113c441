from __future__ import annotations

import ast
import re
from typing import TypeGuard

from ..analysis import edits
from ..analysis.findings import Edit, Fix, Severity
from ..analysis.resolve import SemanticModel, dotted, last_name, walk_scope
from ..analysis.torchapi import LOADER_WRAPPERS, Kind
from . import register
from ._helpers import contains_backward, kind_of, reaching_binding
from .base import Rule

_TRAIN_NAME = re.compile(
    r"^(get_|make_|build_|create_)?(train|training|tr|trn)_?(data_?|set_?)?(loader|dl|dataloader|data_loader|iter|iterator|batches|gen)$"
    r"|^(loader|dl|dataloader|data_loader)_?(train|training|tr)$",
    re.IGNORECASE,
)
_EVAL_NAME = re.compile(r"test|val|eval|dev|pred|infer|calib|holdout|score|bench", re.IGNORECASE)
_ITERABLE_HINT = re.compile(r"Iterable|Stream|WebDataset|DataPipe|IterDataPipe|wds", re.IGNORECASE)
# DataLoader(dataset, batch_size, shuffle, sampler, batch_sampler, ...)
_POS_SHUFFLE, _POS_SAMPLER, _POS_BATCH_SAMPLER = 2, 3, 4


def _strip_iter(expr: ast.AST) -> ast.AST:
    while isinstance(expr, ast.Call) and last_name(expr.func) in LOADER_WRAPPERS and expr.args:
        expr = expr.args[0]
    return expr


_MAP_STYLE_CALLS = {
    "torch.utils.data.random_split",
    "torch.utils.data.Subset",
    "datasets.load_dataset",
    "datasets.load_from_disk",
}


def _iterable_dataset(model: SemanticModel, ds: ast.AST, depth: int = 0) -> bool | None:
    """True: iterable-style; False: certainly map-style; None: cannot tell (stay silent)."""
    if depth > 4:
        return None
    info = kind_of(model, ds)
    if info is not None:
        if info.kind == Kind.ITERABLE_DATASET:
            return True
        if info.kind == Kind.DATASET:
            return False
        return None
    if isinstance(ds, ast.Name):
        b = reaching_binding(model, ds)
        if b is None:
            return None
        if isinstance(b.value, ast.expr):
            return _iterable_dataset(model, b.value, depth + 1)
        # `train_set, val_set = random_split(...)`
        value = getattr(b.stmt, "value", None)
        if isinstance(value, ast.Call) and model.call_qualname(value) in _MAP_STYLE_CALLS:
            return False
        return None
    if isinstance(ds, ast.Attribute) and isinstance(ds.value, ast.Name) and ds.value.id == "self":
        return _self_attr_dataset(model, ds, depth)
    if isinstance(ds, ast.Subscript):  # load_dataset(...)["train"]
        return _iterable_dataset(model, ds.value, depth + 1)
    if isinstance(ds, ast.Call):
        if any(
            k.arg == "streaming" and not (isinstance(k.value, ast.Constant) and k.value.value is False)
            for k in ds.keywords
        ):
            return True
        q = model.call_qualname(ds) or ""
        if q.startswith(("torchtext.", "torchdata.", "webdataset.")) or _ITERABLE_HINT.search(dotted(ds.func) or ""):
            return True
        if q in _MAP_STYLE_CALLS:
            return False
        cls = model.resolve_class(ds.func)
        if cls is not None:
            names = {s.name for s in cls.node.body if isinstance(s, ast.FunctionDef)}
            if "__iter__" in names and "__getitem__" not in names:
                return True
            if "__getitem__" in names:
                return False
            return None
        # a method chain on a dataset (`ds.map(...)`, `ds.select(...)`)
        if isinstance(ds.func, ast.Attribute) and ds.func.attr in (
            "map",
            "filter",
            "select",
            "shuffle",
            "with_format",
            "with_transform",
        ):
            return _iterable_dataset(model, ds.func.value, depth + 1)
        return None
    return None


def _self_attr_dataset(model: SemanticModel, ds: ast.Attribute, depth: int) -> bool | None:
    """`self.train_set`: every assignment in the class must be map-style (also
    `self.train_set, self.val_set = random_split(...)`, the LightningDataModule idiom)."""
    cls = model.enclosing_class(ds)
    if cls is None:
        return None
    verdicts: list[bool | None] = []
    for n in ast.walk(cls):
        if not isinstance(n, (ast.Assign, ast.AnnAssign)) or n.value is None:
            continue
        for t in n.targets if isinstance(n, ast.Assign) else [n.target]:
            elts = t.elts if isinstance(t, (ast.Tuple, ast.List)) else [t]
            for i, e in enumerate(elts):
                if not (
                    isinstance(e, ast.Attribute)
                    and e.attr == ds.attr
                    and isinstance(e.value, ast.Name)
                    and e.value.id == "self"
                ):
                    continue
                value = n.value
                if e is not t:
                    if isinstance(value, (ast.Tuple, ast.List)) and len(value.elts) == len(elts):
                        value = value.elts[i]
                    elif isinstance(value, ast.Call) and model.call_qualname(value) == "torch.utils.data.random_split":
                        verdicts.append(False)
                        continue
                    else:
                        return None
                verdicts.append(_iterable_dataset(model, value, depth + 1))
    if not verdicts or any(v is not False for v in verdicts):
        return None
    return False


def _loader_name(model: SemanticModel, call: ast.Call) -> str | None:
    parent = model.parent(call)
    if isinstance(parent, (ast.Assign, ast.AnnAssign)):
        targets = parent.targets if isinstance(parent, ast.Assign) else [parent.target]
        if len(targets) == 1 and isinstance(targets[0], (ast.Name, ast.Attribute)):
            return dotted(targets[0])
    if isinstance(parent, ast.keyword) and parent.arg:
        return parent.arg
    if isinstance(parent, ast.Return):
        fn = model.enclosing_function(call)
        if fn is not None:
            return fn.name
    return None


@register
class TrainingLoaderNotShuffled(Rule):
    """## What it does
    Checks for `DataLoader`s that feed a training loop (or are named like a training loader,
    e.g. `train_loader`, `trainloader`, `train_dl`, or returned by `train_dataloader()`) but do
    not shuffle: no `shuffle=True`, no `sampler=`, no `batch_sampler=`.

    ## Why is this bad?
    Without shuffling, every epoch presents the samples in the same order, often sorted by
    class or by source. Batches are then far from i.i.d.: the model chases the order, the loss
    oscillates with it, and generalisation suffers, with no error anywhere.

    Not reported: loaders over an `IterableDataset` (shuffling is the dataset's job; `shuffle=True`
    raises there), loaders with a `sampler` or `batch_sampler` (e.g. `DistributedSampler`),
    `shuffle=` set from a variable (`shuffle=args.shuffle`), arguments passed through `**kwargs`,
    test / validation loaders, and loaders only peeked at, whatever their name
    (`next(iter(train_loader))`, `it = iter(train_loader); it.next()`, a loop that leaves after
    its first batch) with no other use in the file. A training loop is a loop that calls `.backward()` (found by
    the flow analysis, also through a function that receives the loader).

    ## Example
    ```python
    train_loader = DataLoader(train_set, batch_size=64)
    for x, y in train_loader:
        ...
        loss.backward()
    ```

    ## Use instead
    ```python
    train_loader = DataLoader(train_set, batch_size=64, shuffle=True)
    ```

    ## Fix safety
    Safe: adds `shuffle=True` (or turns `shuffle=False` into `shuffle=True`). The order of the
    batches changes, which is the point; seed the generator (`generator=`) for reproducible runs.

    ## References
    - [torch.utils.data.DataLoader](https://pytorch.org/docs/stable/data.html#torch.utils.data.DataLoader)
    - [Datasets & DataLoaders (PyTorch tutorial)](https://pytorch.org/tutorials/beginner/basics/data_tutorial.html)
    """

    code = "TL501"
    name = "training-loader-not-shuffled"
    severity = Severity.WARNING
    fix = "safe"

    def check(self, ctx):
        model = ctx.model
        loops = None
        for call in model.nodes_of(ast.Call):
            if not isinstance(call, ast.Call):
                continue
            callee = dotted(call.func)
            if callee is None or (callee not in model.classes and model.qualname(call.func) is None):
                continue  # not a class, ours or imported: it does not build a loader here (a factory's loader is built in it)
            info = model.kind(call)
            if info is None or info.kind != Kind.DATALOADER or info.node is not call:
                continue
            shuffle = self._shuffle_arg(call)
            if shuffle is None:
                continue  # shuffled, sampled, or cannot tell
            ds = call.args[0] if call.args else next((k.value for k in call.keywords if k.arg == "dataset"), None)
            if ds is None or _iterable_dataset(model, ds) is not False:
                continue
            name = _loader_name(model, call)
            short = name.rsplit(".", 1)[-1] if name else None
            if short and _EVAL_NAME.search(short):
                continue
            if name is not None and _replaced_later(model, call, name):
                continue  # e.g. opacus' make_private returns a loader with its own sampler
            why = None
            related: list = []
            returned = isinstance(model.parent(call), ast.Return)
            if name is not None and _only_peeked(ctx, call, name):
                continue  # `next(iter(train_loader))` shows a batch: nothing trains on this loader
            if short and (_TRAIN_NAME.match(short) or short == "train_dataloader"):
                why = "it is returned by `train_dataloader()`" if returned else f"`{name}` is a training loader"
            if why is None and name is not None:
                if loops is None:
                    loops = self._training_loop_iters(ctx)
                fed = self._feeds(model, call, name, loops)
                if fed is not None:
                    why = f"`{name}` feeds a training loop"
                    related = [ctx.related(model, fed.iter, f"`{name}` feeds this training loop")]
            if why is None:
                continue
            what = (
                "`shuffle=False`" if isinstance(shuffle, ast.AST) else "no `shuffle=True`, `sampler` or `batch_sampler`"
            )
            msg = f"Training data is not shuffled: {why}, but the `DataLoader` has {what}; every epoch sees the batches in the same order"
            yield ctx.finding(self, call, msg, self._fix(ctx, call, shuffle), related)

    @staticmethod
    def _shuffle_arg(call: ast.Call):
        """True when nothing shuffles (no argument), the `shuffle=False` node when that is written,
        None when it is shuffled, sampled, or unknowable."""
        found: object = True
        for k in call.keywords:
            if k.arg is None:
                return None  # **kwargs
            if k.arg in ("sampler", "batch_sampler") and not (
                isinstance(k.value, ast.Constant) and k.value.value is None
            ):
                return None
            if k.arg == "shuffle":
                if isinstance(k.value, ast.Constant) and k.value.value in (False, None):
                    found = k.value
                else:
                    return None
        if any(isinstance(a, ast.Starred) for a in call.args):
            return None
        if len(call.args) > _POS_SAMPLER:
            for a in call.args[_POS_SAMPLER : _POS_BATCH_SAMPLER + 1]:
                if not (isinstance(a, ast.Constant) and a.value is None):
                    return None
        if len(call.args) > _POS_SHUFFLE:
            a = call.args[_POS_SHUFFLE]
            if isinstance(a, ast.Constant) and a.value in (False, None):
                return a
            return None
        return found

    @staticmethod
    def _training_loop_iters(ctx) -> dict[tuple[int, str], ast.AST]:
        """(id of scope, iterated name) -> a training loop over it."""
        model = ctx.model
        out: dict[tuple[int, str], ast.AST] = {}
        loops: list[ast.AST] = []
        try:
            loops = [l.node for l in ctx.flow.training_loops()]
        except Exception:
            loops = []
        # where the flow saw no training loop in a function, a loop running backward stands in
        # (decided per function, so what one function holds says nothing about another)
        trained = {id(model.scope_of(n)) for n in loops}
        loops += [
            n
            for n in model.nodes_of(ast.For, ast.AsyncFor)
            if id(model.scope_of(n)) not in trained and contains_backward(n)
        ]
        for node in loops:
            if not isinstance(node, (ast.For, ast.AsyncFor)):
                continue
            it = dotted(_strip_iter(node.iter))
            if it:
                out.setdefault((id(model.scope_of(node)), it), node)
        return out

    @staticmethod
    def _feeds(
        model: SemanticModel, call: ast.Call, name: str, loops: dict[tuple[int, str], ast.AST]
    ) -> ast.AST | None:
        scope = model.scope_of(call)
        if (id(scope), name) in loops:
            return loops[(id(scope), name)]
        # handed to a function of this file that trains on it
        for n in walk_scope(scope):
            if not isinstance(n, ast.Call) or n is call:
                continue
            for i, a in enumerate(n.args):
                if dotted(a) != name:
                    continue
                ref = model.resolve_function(n)
                if ref is None or ref.model is not model:
                    continue
                params = [*ref.node.args.posonlyargs, *ref.node.args.args]
                offset = 1 if ref.cls is not None and isinstance(n.func, ast.Attribute) else 0
                if i + offset < len(params):
                    p = params[i + offset].arg
                    if (id(ref.node), p) in loops:
                        return loops[(id(ref.node), p)]
            for k in n.keywords:
                if k.arg and dotted(k.value) == name:
                    ref = model.resolve_function(n)
                    if ref is not None and ref.model is model and (id(ref.node), k.arg) in loops:
                        return loops[(id(ref.node), k.arg)]
        return None

    @staticmethod
    def _fix(ctx, call: ast.Call, shuffle) -> Fix | None:
        src = ctx.source
        if isinstance(shuffle, ast.AST):
            return Fix("Set `shuffle=True`", (Edit(src.span(shuffle), "True"),), "safe")
        parts: list[ast.expr | ast.keyword] = [*call.args, *call.keywords]
        if not parts:
            return None
        last = max(parts, key=lambda p: (p.end_lineno or 0, p.end_col_offset or 0))
        return Fix("Add `shuffle=True`", (edits.insert_at(src.span(last).end, ", shuffle=True"),), "safe")


_ITERATION_WRAPPERS = {"enumerate", "tqdm", "iter", "len", "next", "zip", "list", "print", "trange"}


def _replaced_later(model, call: ast.Call, name: str) -> bool:
    """Is the loader handed to a call whose result is bound back to the same name
    (`model, opt, train_loader = privacy_engine.make_private(..., data_loader=train_loader)`)?
    Such wrappers may bring their own sampler: whether batches are shuffled is then unknown."""
    scope = model.scope_of(call)
    for other in model.nodes_of(ast.Call):
        if other is call or model.scope_of(other) is not scope:
            continue
        func_name = other.func.id if isinstance(other.func, ast.Name) else None
        if func_name in _ITERATION_WRAPPERS:
            continue
        if not any(dotted(a) == name for a in [*other.args, *(k.value for k in other.keywords)]):
            continue
        parent = model.parent(other)
        if isinstance(parent, ast.Assign) and any(
            dotted(n) == name for t in parent.targets for n in ([t] + list(getattr(t, "elts", [])))
        ):
            return True
    return False


def _only_peeked(ctx, call: ast.Call, name: str) -> bool:
    """Every use of the loader bound here only looks at a batch: `next(iter(train_loader))`,
    `it = iter(train_loader)` then `next(it)` / `it.next()`, a loop that leaves after its
    first batch (`len(loader)`, `loader.dataset` are neutral). At least one such peek, and no
    other use (passed on, iterated, returned, imported by another file)."""
    model = ctx.model
    if not isinstance(model.parent(call), (ast.Assign, ast.AnnAssign)):
        return False
    uses = _loader_uses(ctx, call, name)
    if uses is None:
        return False
    kinds = [_use_kind(model, u) for u in uses]
    if "peek" not in kinds or any(k not in ("peek", "neutral") for k in kinds):
        return False
    ws = model.workspace
    # a module-level loader another file imports may be trained on there
    return not (isinstance(model.scope_of(call), ast.Module) and ws is not None and ws.importer_models(model, name))


def _loader_uses(ctx, call: ast.Call, name: str) -> list[ast.AST] | None:
    model = ctx.model
    scope = model.scope_of(call)
    if "." not in name:
        if isinstance(scope, ast.Module):
            out = []
            for n in model.nodes_of(ast.Name):
                if n.id != name or not isinstance(n.ctx, ast.Load):
                    continue
                fn = model.scope_of(n)
                if fn is not scope and (model.is_param(fn, name) or model.assigned_values(fn, name)):
                    continue  # a local of the same name
                out.append(n)
            return out
        return [n for n in ast.walk(scope) if isinstance(n, ast.Name) and n.id == name and isinstance(n.ctx, ast.Load)]
    head, _, _ = name.partition(".")
    cls = model.enclosing_class(call)
    if head != "self" or cls is None:
        return None
    return [
        n for n in ast.walk(cls) if isinstance(n, ast.Attribute) and isinstance(n.ctx, ast.Load) and dotted(n) == name
    ]


def _use_kind(model: SemanticModel, use: ast.AST) -> str:
    """ "peek", "neutral" (`len(loader)`, `loader.dataset`) or "use"."""
    parent = model.parent(use)
    if _called_on(parent, "len", use):
        return "neutral"
    if _called_on(parent, "iter", use):
        outer = model.parent(parent)
        if _called_on(outer, "next", parent):
            return "peek"
        if isinstance(outer, ast.Assign) and len(outer.targets) == 1 and isinstance(outer.targets[0], ast.Name):
            return "peek" if _iterator_only_stepped(model, outer.targets[0].id, model.scope_of(outer)) else "use"
        return "use"
    if isinstance(parent, ast.Attribute) and parent.value is use:
        called = model.parent(parent)
        if not (isinstance(called, ast.Call) and called.func is parent):
            return "neutral"  # loader.dataset, loader.batch_size (not a method call)
    # `for x, y in loader: show(x); break`
    expr, up = use, parent
    while isinstance(up, ast.Call) and last_name(up.func) in LOADER_WRAPPERS and up.args and up.args[0] is expr:
        expr, up = up, model.parent(up)
    if (
        isinstance(up, (ast.For, ast.AsyncFor))
        and up.iter is expr
        and any(isinstance(s, (ast.Break, ast.Return)) for s in up.body)
    ):
        return "peek"
    return "use"


def _iterator_only_stepped(model: SemanticModel, it: str, scope: ast.AST) -> bool:
    """`dataiter` is only ever advanced by hand: `next(dataiter)`, `dataiter.next()`."""
    uses = [n for n in ast.walk(scope) if isinstance(n, ast.Name) and n.id == it and isinstance(n.ctx, ast.Load)]
    for n in uses:
        parent = model.parent(n)
        if _called_on(parent, "next", n):
            continue
        if (
            isinstance(parent, ast.Attribute)
            and parent.attr in ("next", "__next__")
            and isinstance(model.parent(parent), ast.Call)
        ):
            continue
        return False
    return bool(uses)


def _called_on(node: ast.AST | None, builtin: str, arg: ast.AST) -> TypeGuard[ast.Call]:
    """`node` is `builtin(arg, ...)`: `len(loader)`, `iter(loader)`, `next(it)`."""
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == builtin
        and bool(node.args)
        and node.args[0] is arg
    )
