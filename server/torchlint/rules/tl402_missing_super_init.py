from __future__ import annotations

import ast

from ..analysis import edits
from ..analysis.findings import Fix, Position, Severity, Span
from ..analysis.resolve import SemanticModel, dotted, walk_scope
from ..analysis.torchapi import Kind
from . import register
from .base import Rule

# Library bases whose __init__ takes no required argument.
_NO_ARG_BASES = {
    "torch.nn.Module",
    "lightning.pytorch.LightningModule",
    "pytorch_lightning.LightningModule",
    "lightning.LightningModule",
}


def _is_init_call(call: ast.Call, cls: ast.ClassDef) -> bool:
    """`super().__init__(...)`, `super(X, self).__init__(...)`, `Base.__init__(self, ...)`."""
    f = call.func
    if not (isinstance(f, ast.Attribute) and f.attr == "__init__"):
        return False
    v = f.value
    if isinstance(v, ast.Call) and isinstance(v.func, ast.Name) and v.func.id == "super":
        return True
    # `nn.Module.__init__(self)`, `Base.__init__(self)`: any class named explicitly
    return (
        dotted(v) is not None and bool(call.args) and isinstance(call.args[0], ast.Name) and call.args[0].id == "self"
    )


def _assigns_submodule(model: SemanticModel, stmt: ast.stmt) -> ast.AST | None:
    """The `self.x = <module or Parameter>` target in `stmt`, if any."""
    for n in ast.walk(stmt):
        if isinstance(n, (ast.Assign, ast.AnnAssign)):
            targets = n.targets if isinstance(n, ast.Assign) else [n.target]
            for t in targets:
                if (
                    isinstance(t, ast.Attribute)
                    and isinstance(t.value, ast.Name)
                    and t.value.id == "self"
                    and n.value is not None
                ):
                    v = n.value
                    if isinstance(v, ast.Call) and model.call_qualname(v) in (
                        "torch.nn.Parameter",
                        "torch.nn.parameter.Parameter",
                    ):
                        return t
                    info = model.kind(v)
                    if info is not None and info.kind in (Kind.MODULE, Kind.LOSS) and isinstance(v, ast.Call):
                        return t
    return None


def _base_init_takes_no_args(model: SemanticModel, cls: ast.ClassDef) -> bool:
    """True when `super().__init__()` with no argument is certainly valid."""
    if len(cls.bases) != 1 or cls.keywords:
        return False
    base = cls.bases[0]
    q = model.qualname(base)
    if q in _NO_ARG_BASES:
        return True
    info = model.resolve_class(base)
    if info is None:
        return False
    ref = info.model.find_method(info, "__init__")
    if ref is None:
        # no __init__ up the local chain: the library base decides
        return _base_init_takes_no_args(info.model, info.node)
    a = ref.node.args
    required = len([*a.posonlyargs, *a.args]) - 1 - len(a.defaults)
    kw_required = sum(1 for d in a.kw_defaults if d is None)
    return required <= 0 and kw_required == 0


def _trivial(fn: ast.FunctionDef) -> bool:
    body = [s for s in fn.body if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))]
    return all(isinstance(s, (ast.Pass, ast.Raise)) for s in body)


@register
class MissingSuperInit(Rule):
    """## What it does
    Checks for `nn.Module` subclasses whose `__init__` never calls `super().__init__()`, or
    calls it only after assigning submodules or parameters.

    ## Why is this bad?
    `nn.Module.__init__` creates the dictionaries that hold parameters, buffers and
    submodules. Without it, the first `self.fc = nn.Linear(...)` raises
    `AttributeError: cannot assign module before Module.__init__() call`, and a module with no
    layers fails later, on first use, with a confusing error. Plain attributes (numbers,
    strings) may be set before the call; modules and parameters may not.

    `super(Net, self).__init__()`, `nn.Module.__init__(self)`, `Base.__init__(self, ...)`,
    classes without their own `__init__`, and `__init__` methods that only raise are fine.

    ## Example
    ```python
    class Net(nn.Module):
        def __init__(self):
            self.fc = nn.Linear(10, 2)
    ```

    ## Use instead
    ```python
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(10, 2)
    ```

    ## Fix safety
    Safe: inserts `super().__init__()` as the first statement of `__init__` (offered only when
    the base class's `__init__` needs no arguments), or moves the existing call above the first
    submodule assignment (offered only when its arguments do not depend on what happens in
    between).

    ## References
    - [torch.nn.Module](https://pytorch.org/docs/stable/generated/torch.nn.Module.html)
    - [Build the neural network (PyTorch tutorial)](https://pytorch.org/tutorials/beginner/basics/buildmodel_tutorial.html)
    """

    code = "TL402"
    name = "missing-super-init"
    severity = Severity.ERROR
    fix = "safe"

    def check(self, ctx):
        model = ctx.model
        for cls in model.nodes_of(ast.ClassDef):
            if not isinstance(cls, ast.ClassDef) or not model.is_module_class(cls):
                continue
            init = next((s for s in cls.body if isinstance(s, ast.FunctionDef) and s.name == "__init__"), None)
            if init is None or _trivial(init):
                continue
            calls = [n for n in walk_scope(init) if isinstance(n, ast.Call) and _is_init_call(n, cls)]
            if not calls:
                # another method may call it (`self._build()`): look through the whole class
                if any(isinstance(n, ast.Call) and _is_init_call(n, cls) for n in ast.walk(cls)):
                    continue
                if any(
                    isinstance(n, ast.Call)
                    and isinstance(n.func, ast.Attribute)
                    and n.func.attr in ("__init__", "__setstate__")
                    for n in walk_scope(init)
                ):
                    continue
                yield self._never(ctx, cls, init)
                continue
            first_call = min(calls, key=lambda c: (c.lineno, c.col_offset))
            call_stmt = next((s for s in init.body if any(n is first_call for n in ast.walk(s))), None)
            if call_stmt is None:
                continue  # the call is nested (in an if / try): cannot tell the order
            for s in init.body:
                if s is call_stmt:
                    break
                target = _assigns_submodule(model, s)
                if target is not None:
                    yield self._late(ctx, cls, init, s, target, call_stmt)
                    break

    def _never(self, ctx, cls, init):
        fix = None
        anchor = edits.body_start(init.body)
        if anchor is not None and _base_init_takes_no_args(ctx.model, cls):
            e = edits.insert_line_before(ctx.source, anchor, "super().__init__()")
            if e is not None:
                fix = Fix("Insert `super().__init__()` at the start of `__init__`", (e,), "safe")
        msg = (
            f"`{cls.name}.__init__` never calls `super().__init__()`: `nn.Module` is not initialised, so "
            f"assigning a layer raises `AttributeError` and calling the module fails"
        )
        start = ctx.source.span(init).start
        line = ctx.source.lines[start.line]
        name_at = line.find("__init__", start.column)
        end = Position(start.line, name_at + len("__init__")) if name_at >= 0 else ctx.source.span(init).end
        return ctx.finding(self, Span(start, end), msg, fix)

    def _late(self, ctx, cls, init, stmt, target, call_stmt):
        fix = None
        used = {n.id for n in ast.walk(call_stmt) if isinstance(n, ast.Name)}
        idx_a = init.body.index(stmt)
        idx_b = init.body.index(call_stmt)
        between = init.body[idx_a:idx_b]
        assigned = {
            n.id for s in between for n in ast.walk(s) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)
        }
        if not (used & assigned) and isinstance(call_stmt, ast.Expr):
            moved = edits.move_before(ctx.source, call_stmt, stmt)
            if moved is not None:
                fix = Fix(
                    f"Move `{ctx.source.segment(call_stmt.value)}` before the first submodule assignment", moved, "safe"
                )
        msg = (
            f"`{cls.name}.__init__` assigns `{ctx.source.segment(target)}` before calling `super().__init__()`: "
            f"this raises `AttributeError: cannot assign module before Module.__init__() call`"
        )
        return ctx.finding(
            self, stmt, msg, fix, [ctx.related(ctx.model, call_stmt, "`super().__init__()` is called here")]
        )
