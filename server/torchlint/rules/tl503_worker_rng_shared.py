from __future__ import annotations

import ast

from ..analysis.findings import Severity
from ..analysis.torchapi import RNG_CONSTRUCTORS, Kind
from . import register
from ._helpers import kind_of, reaching_binding
from .base import Rule


def _self_attr(node: ast.AST) -> str | None:
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "self":
        return node.attr
    return None


def _methods(cls: ast.ClassDef) -> dict[str, ast.FunctionDef]:
    return {s.name: s for s in cls.body if isinstance(s, ast.FunctionDef)}


def _shared_rng(model, cls: ast.ClassDef) -> tuple[ast.AST, ast.AST] | None:
    """(where `__init__` builds the RNG, where `__getitem__` draws from it), when the dataset
    owns one RNG object that nothing but `__init__` sets and nothing reseeds per worker."""
    methods = _methods(cls)
    init, getitem = methods.get("__init__"), methods.get("__getitem__")
    if init is None or getitem is None:
        return None
    rngs: dict[str, ast.AST] = {}
    for node in ast.walk(init):
        if (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and _self_attr(node.targets[0])
            and isinstance(node.value, ast.Call)
        ):
            value = node.value
            if (
                isinstance(value.func, ast.Attribute)
                and value.func.attr == "manual_seed"
                and isinstance(value.func.value, ast.Call)
            ):
                value = value.func.value  # `torch.Generator().manual_seed(seed)` returns the generator
            if model.call_qualname(value) in RNG_CONSTRUCTORS:
                rngs[_self_attr(node.targets[0])] = node.value  # type: ignore[index]
    if not rngs:
        return None
    for fn in methods.values():
        for node in ast.walk(fn):
            if isinstance(node, ast.Attribute) and node.attr == "get_worker_info":
                return None  # the class looks at its worker itself
            if (
                fn is not init
                and isinstance(node, ast.Attribute)
                and isinstance(node.ctx, ast.Store)
                and _self_attr(node) in rngs
            ):
                return None  # (re)built elsewhere, e.g. lazily in the worker
    # `__getitem__` and the methods it calls (transitively) draw from the RNG
    seen, todo = set(), ["__getitem__"]
    while todo:
        name = todo.pop()
        if name in seen or name not in methods:
            continue
        seen.add(name)
        for node in ast.walk(methods[name]):
            attr = _self_attr(node)
            if attr in rngs and isinstance(node.ctx, ast.Load):  # type: ignore[attr-defined]
                return rngs[attr], node
            if isinstance(node, ast.Call) and _self_attr(node.func):
                todo.append(_self_attr(node.func))  # type: ignore[arg-type]
    return None


def _int_value(model, expr: ast.AST | None) -> int | None:
    if isinstance(expr, ast.Name):
        b = reaching_binding(model, expr)
        expr = b.value if b is not None else None
    if isinstance(expr, ast.Constant) and isinstance(expr.value, int) and not isinstance(expr.value, bool):
        return expr.value
    return None


@register
class WorkerRngShared(Rule):
    """## What it does
    Checks for `DataLoader`s with `num_workers > 0` over a `Dataset` that keeps its own random
    generator (`np.random.default_rng(...)`, `np.random.RandomState(...)`, `random.Random(...)`,
    `torch.Generator()` built in `__init__`) and draws from it in `__getitem__` (or a method it
    calls), when the loader has no `worker_init_fn`.

    ## Why is this bad?
    Each worker process gets a copy of the dataset, RNG included, in the same state: every
    worker draws the same sequence. With 4 workers, the random crops, flips and noise repeat
    four times per epoch, so the data is far less varied than intended, silently. Since
    torch 1.9, the global `random`, `numpy.random` and torch generators are reseeded per
    worker, so code that uses them is fine (and is not reported); an RNG object the dataset
    owns is not.

    The rule stays silent when the loader passes a `worker_init_fn` (it may reseed the
    generator), when the dataset builds or replaces its generator outside `__init__` (lazily,
    in the worker), or when it calls `get_worker_info()` itself, and when `num_workers` is not
    a known positive number.

    ## Example
    ```python
    class Noisy(Dataset):
        def __init__(self, data, seed=0):
            self.data = data
            self.rng = np.random.default_rng(seed)

        def __getitem__(self, i):
            return self.data[i] + self.rng.normal(size=self.data[i].shape)

    loader = DataLoader(Noisy(x), batch_size=32, num_workers=4)
    ```

    ## Use instead
    ```python
    def seed_worker(worker_id):
        info = torch.utils.data.get_worker_info()
        info.dataset.rng = np.random.default_rng(info.seed % 2**32)

    loader = DataLoader(Noisy(x), batch_size=32, num_workers=4, worker_init_fn=seed_worker)
    ```

    ## Fix safety
    No fix: how to reseed (and whether runs must stay reproducible) is the author's choice.

    ## References
    - [Randomness in multi-process data loading](https://pytorch.org/docs/stable/data.html#randomness-in-multi-process-data-loading)
    - [Reproducibility: DataLoader](https://pytorch.org/docs/stable/notes/randomness.html#dataloader)
    """

    code = "TL503"
    name = "worker-rng-shared"
    severity = Severity.WARNING

    def check(self, ctx):
        model = ctx.model
        for loader in model.calls_named("DataLoader"):
            info = kind_of(model, loader)
            if info is None or info.kind != Kind.DATALOADER:
                continue
            kw = {k.arg: k.value for k in loader.keywords}
            if None in kw or "worker_init_fn" in kw or len(loader.args) > 10:
                continue
            workers = _int_value(model, kw.get("num_workers", loader.args[5] if len(loader.args) > 5 else None))
            data = kw.get("dataset", loader.args[0] if loader.args else None)
            if not workers or workers <= 0 or data is None:
                continue
            ds = kind_of(model, data)
            if ds is None or ds.kind != Kind.DATASET or ds.cls is None:
                continue
            found = _shared_rng(ds.cls.model, ds.cls.node)
            if found is None:
                continue
            made, drawn = found
            attr = _self_attr(drawn)
            msg = (
                f"each of the {workers} workers gets a copy of `{ds.cls.name}.{attr}` in the same state and draws the same "
                "random numbers: reseed it per worker in a `worker_init_fn` (or build it lazily in the worker)"
            )
            related = [
                ctx.related(ds.cls.model, made, f"`self.{attr}` is built once, in `__init__`"),
                ctx.related(ds.cls.model, drawn, "and drawn from in every worker"),
            ]
            yield ctx.finding(self, loader.func, msg, related=related)
