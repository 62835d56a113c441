from __future__ import annotations

import ast
from collections.abc import Iterator
from typing import cast

from ..analysis.edits import add_keyword
from ..analysis.findings import Fix, Severity
from . import register
from ._helpers import Binding, reaching_binding
from .base import Rule

# Uses that show a loaded object is a whole module, which `weights_only=True` cannot unpickle.
_MODULE_USES = {"eval", "train", "parameters", "named_parameters", "state_dict", "forward", "modules", "children"}


@register
class TorchLoadUnsafe(Rule):
    """## What it does
    Checks for `torch.load(...)` calls that do not pass `weights_only=` (TorchFix `TOR102`).
    Imports are followed (`import torch as T; T.load(f)`).

    ## Why is this bad?
    With `weights_only=False`, `torch.load` unpickles arbitrary Python objects: loading a
    checkpoint from someone else can run any code. Before torch 2.6 that was the default.
    From 2.6 the default is `weights_only=True`, so the same line now refuses files that hold
    more than tensors and plain containers (a whole pickled model, custom classes). Either way,
    the behaviour depends on the installed torch: say which one you mean.

    Pass `weights_only=True` for state dicts and tensors. Pass `weights_only=False` only for
    files you trust that hold whole objects. When the loaded value is used as a model
    (`model = torch.load(path)` then `model.eval()` or `model(x)`), the message says so and no
    fix is offered: `weights_only=True` could not load it. The fix is offered only where the
    loaded value is seen used as a state dict or checkpoint dict (passed to
    `load_state_dict`, read with `ckpt["key"]`, `.get`, `.items()`...): a value returned or
    passed on may be anything. Inside `with
    torch.serialization.safe_globals([...])` (or after `add_safe_globals`) the code counts on
    `weights_only=True`: the message and the fix say to pass it explicitly.

    ## Example
    ```python
    state = torch.load("checkpoint.pt", map_location="cpu")
    model.load_state_dict(state)
    ```

    ## Use instead
    ```python
    state = torch.load("checkpoint.pt", map_location="cpu", weights_only=True)
    model.load_state_dict(state)
    ```

    ## Fix safety
    Unsafe: files holding anything but tensors, primitive types and plain containers (a pickled
    model or optimizer with custom classes, numpy arrays on older torch) no longer load; they
    need `weights_only=False` (trusted files only) or `torch.serialization.add_safe_globals`.
    No fix with `pickle_module=`, which `weights_only=True` rejects.

    ## References
    - [torch.load](https://pytorch.org/docs/stable/generated/torch.load.html)
    - [Serialization semantics: weights_only](https://pytorch.org/docs/stable/notes/serialization.html#weights-only)
    - [TorchFix TOR102](https://github.com/meta-pytorch/torchfix#tor102)
    """

    code = "TL602"
    name = "torch-load-unsafe"
    severity = Severity.WARNING
    fix = "unsafe"

    def check(self, ctx):
        model = ctx.model
        for call in model.nodes_of(ast.Call):
            if model.call_qualname(call) != "torch.load":
                continue
            if any(k.arg in ("weights_only", None) for k in call.keywords):
                continue  # chosen, or maybe chosen in **kwargs
            as_module = _used_as_module(ctx, call)
            if _allowlisted(model, call):
                msg = (
                    "`torch.load` without `weights_only=` relies on the torch>=2.6 default `weights_only=True` for the "
                    "allowlisted classes; on torch<2.6 it runs any code the file pickled. Pass `weights_only=True`"
                )
                edit = add_keyword(ctx.source, call, "weights_only=True")
                yield ctx.finding(
                    self, call.func, msg, Fix("Pass `weights_only=True`", (edit,), "unsafe") if edit else None
                )
                continue
            if as_module is not None:
                msg = (
                    f"`torch.load` without `weights_only=` loads a whole pickled model (`{as_module}` is used as one), which torch>=2.6 refuses by default. "
                    "Pass `weights_only=False` if you trust the file, or save and load a `state_dict`"
                )
                yield ctx.finding(self, call.func, msg)
                continue
            msg = (
                "`torch.load` without `weights_only=`: on torch<2.6 it runs any code the file pickled. Pass `weights_only=True` "
                "(the torch>=2.6 default) for state dicts and tensors; `weights_only=False` only for trusted files that hold other objects"
            )
            fix = None
            # the fix only where the value is seen used as a state dict or checkpoint dict: a
            # file holding a pickled model or a numpy array would no longer load
            if _used_as_state(ctx, call) and not any(k.arg == "pickle_module" for k in call.keywords):
                edit = add_keyword(ctx.source, call, "weights_only=True")
                fix = Fix("Pass `weights_only=True`", (edit,), "unsafe") if edit else None
            yield ctx.finding(self, call.func, msg, fix)


def _allowlisted(model, call: ast.Call) -> bool:
    """Inside `with torch.serialization.safe_globals([...])`, or in a file that calls
    `add_safe_globals`: the code counts on `weights_only=True` and allowlists its classes."""
    for a in model.ancestors(call):
        if isinstance(a, (ast.With, ast.AsyncWith)) and any(
            isinstance(i.context_expr, ast.Call)
            and model.call_qualname(i.context_expr) == "torch.serialization.safe_globals"
            for i in a.items
        ):
            return True
    return any(
        model.call_qualname(c) == "torch.serialization.add_safe_globals" for c in model.calls_named("add_safe_globals")
    )


def _uses_of_loaded(model, call: ast.Call) -> Iterator[tuple[ast.Name, Binding | None]]:
    """(use, the binding reaching it, None when several may) of the name a `x = torch.load(...)`
    binds, for the loads of that name in the same scope."""
    stmt = model.parent(call)
    if not (
        isinstance(stmt, ast.Assign)
        and stmt.value is call
        and len(stmt.targets) == 1
        and isinstance(stmt.targets[0], ast.Name)
    ):
        return
    name = stmt.targets[0].id
    for node in cast(list[ast.Name], model.nodes_of(ast.Name)):
        if node.id == name and isinstance(node.ctx, ast.Load) and model.scope_of(node) is model.scope_of(stmt):
            b = reaching_binding(model, node)
            if b is None or b.stmt is stmt:
                yield node, b


def _used_as_module(ctx, call: ast.Call) -> str | None:
    """The name a `x = torch.load(...)` binds, when a later use certainly of that binding
    treats it as a module."""
    model = ctx.model
    for node, b in _uses_of_loaded(model, call):
        if b is None:
            continue
        parent = model.parent(node)
        if isinstance(parent, ast.Call) and parent.func is node:
            return node.id
        if (
            isinstance(parent, ast.Attribute)
            and parent.attr in _MODULE_USES
            and isinstance(model.parent(parent), ast.Call)
        ):
            return node.id
    return None


_STATE_METHODS = {"get", "items", "keys", "values", "pop", "update", "copy"}


def _used_as_state(ctx, call: ast.Call) -> bool:
    """The loaded value is used as a state dict or a checkpoint dict: given to
    `load_state_dict` (directly or one key of it), read with a string key or a dict method,
    directly or through the one name `x = torch.load(...)` binds (uses in the same scope,
    also where another binding may reach: `if gpu: ckpt = torch.load(p) else: ckpt = ...`)."""
    model = ctx.model
    return _state_use(model, call) or any(_state_use(model, node) for node, _ in _uses_of_loaded(model, call))


def _state_use(model, expr: ast.expr) -> bool:
    parent = model.parent(expr)
    if isinstance(parent, ast.Subscript) and parent.value is expr:
        key = parent.slice
        if isinstance(key, ast.Constant) and isinstance(key.value, str):
            return True
        return _state_use(model, parent)
    if isinstance(parent, ast.Attribute) and parent.value is expr and parent.attr in _STATE_METHODS:
        return isinstance(model.parent(parent), ast.Call)
    if isinstance(parent, ast.Call) and expr in parent.args:
        # `model.load_state_dict(sd)`; ignite's `Checkpoint.load_objects(to_load, checkpoint)`
        return isinstance(parent.func, ast.Attribute) and parent.func.attr in ("load_state_dict", "load_objects")
    return bool(isinstance(parent, ast.keyword) and parent.arg in ("state_dict", "checkpoint"))
