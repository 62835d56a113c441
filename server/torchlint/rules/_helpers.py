"""Small shared questions for the loss / module / data rules (TL204, TL3xx, TL4xx, TL501).

Everything here answers None when it cannot decide, so that rules stay silent.
"""

from __future__ import annotations

import ast
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, cast

from ..analysis.facts import Facts
from ..analysis.resolve import SemanticModel, dotted, walk_scope
from ..analysis.torchapi import (
    ACTIVATION_FUNCTIONS,
    ACTIVATION_METHODS,
    ACTIVATION_MODULES,
    MOVE_METHODS,
    VALUE_KEEPING_METHODS,
    Kind,
    is_functional_loss,
    loss_name,
)

# -- aliases -------------------------------------------------------------------


def nn_alias(model: SemanticModel) -> str | None:
    """How this file spells `torch.nn` (`nn`, `torch.nn`), or None when it cannot."""
    names = sorted(k for k, v in model.imports.items() if v == "torch.nn")
    if "nn" in names:
        return "nn"
    if names:
        return names[0]
    if model.imports.get("torch") == "torch":
        return "torch.nn"
    return None


# -- positions and blocks ----------------------------------------------------


def _pos(node: ast.AST) -> tuple[int, int]:
    located: Any = node  # a statement or an expression: typeshed's AST has no position
    return (located.lineno, located.col_offset)


def _end(node: ast.AST) -> tuple[int, int]:
    located: Any = node
    return (located.end_lineno or located.lineno, located.end_col_offset or 0)


def statement_of(model: SemanticModel, node: ast.AST) -> ast.stmt | None:
    cur = node
    while not isinstance(cur, ast.stmt):
        parent = model.parent(cur)
        if parent is None:
            return None
        cur = parent
    return cur


def _block_of(model: SemanticModel, stmt: ast.stmt) -> list[ast.stmt] | None:
    parent = model.parent(stmt)
    if parent is None:
        return None
    for field in ("body", "orelse", "finalbody", "handlers"):
        block = getattr(parent, field, None)
        if isinstance(block, list) and any(s is stmt for s in block):
            return block
    return None


def dominates(model: SemanticModel, stmt: ast.stmt, use: ast.AST) -> bool:
    """`stmt` runs on every path to `use` (same block, earlier; or an enclosing block)."""
    block = _block_of(model, stmt)
    if block is None:
        return False
    # a `with` body always runs: a binding inside it dominates what follows the `with`
    parent = model.parent(stmt)
    if (
        isinstance(parent, (ast.With, ast.AsyncWith))
        and block is parent.body
        and not any(a is parent for a in model.ancestors(use))
    ):
        return dominates(model, parent, use)
    idx = next(i for i, s in enumerate(block) if s is stmt)
    for a in [use, *model.ancestors(use)]:
        for j, s in enumerate(block):
            if s is a:
                return j > idx
    return False


_LOOPS = (ast.For, ast.AsyncFor, ast.While)


def _bindings(scope: ast.AST, name: str) -> list[tuple[ast.AST, ast.AST | None]]:
    """(binding node, assigned value or None when opaque) for every binding of `name` in scope."""
    return _bindings_by_name(scope).get(name, [])


def _index_bindings(scope: ast.AST) -> dict[str, list[tuple[ast.AST, ast.AST | None]]]:
    index: dict[str, list[tuple[ast.AST, ast.AST | None]]] = {}
    for node, bound, value in _scope_bindings(scope):
        index.setdefault(bound, []).append((node, value))
    return index


# one walk per scope node, indexed by name (rules ask about many names in the same scope)
_bindings_by_name: Facts[ast.AST, dict[str, list[tuple[ast.AST, ast.AST | None]]]] = Facts(_index_bindings)


def _names_in(target: ast.AST) -> list[str]:
    return [n.id for n in ast.walk(target) if isinstance(n, ast.Name)]


_BINDERS = frozenset(
    {
        ast.Assign,
        ast.AnnAssign,
        ast.AugAssign,
        ast.For,
        ast.AsyncFor,
        ast.With,
        ast.AsyncWith,
        ast.NamedExpr,
        ast.Import,
        ast.ImportFrom,
        ast.FunctionDef,
        ast.AsyncFunctionDef,
        ast.ClassDef,
        ast.ExceptHandler,
        ast.Delete,
    }
)  # the nodes `_bound_names` finds names in


def _scope_bindings(scope: ast.AST) -> Iterator[tuple[ast.AST, str, ast.AST | None]]:
    for node in walk_scope(scope):
        if node.__class__ not in _BINDERS:
            continue
        for name in _bound_names(node):
            yield from ((n, name, v) for n, v in _bindings_of_node(node, name))


def _bound_names(node: ast.AST) -> set[str]:
    if isinstance(node, ast.Assign):
        return {n for t in node.targets for n in _names_in(t)}
    if isinstance(node, (ast.AnnAssign, ast.AugAssign)) and isinstance(node.target, ast.Name):
        return {node.target.id}
    if isinstance(node, (ast.For, ast.AsyncFor)):
        return set(_names_in(node.target))
    if isinstance(node, (ast.With, ast.AsyncWith)):
        return {n for item in node.items if item.optional_vars is not None for n in _names_in(item.optional_vars)}
    if isinstance(node, ast.NamedExpr):
        return {node.target.id}
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return {alias.asname or alias.name.split(".")[0] for alias in node.names}
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {node.name}
    if isinstance(node, ast.ExceptHandler) and node.name:
        return {node.name}
    if isinstance(node, ast.Delete):
        return {t.id for t in node.targets if isinstance(t, ast.Name)}
    return set()


def _bindings_of_node(stmt: ast.AST, name: str) -> Iterator[tuple[ast.AST, ast.AST | None]]:
    for node in (stmt,):
        if isinstance(node, ast.Assign):
            for t in node.targets:
                if isinstance(t, ast.Name) and t.id == name:
                    yield node, node.value
                elif isinstance(t, (ast.Tuple, ast.List)) and any(
                    isinstance(n, ast.Name) and n.id == name for n in ast.walk(t)
                ):
                    value = None
                    if isinstance(node.value, (ast.Tuple, ast.List)) and len(node.value.elts) == len(t.elts):
                        for te, ve in zip(t.elts, node.value.elts):
                            if isinstance(te, ast.Name) and te.id == name:
                                value = ve
                    yield node, value
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.target.id == name:
            yield node, node.value
        elif (
            isinstance(node, ast.AugAssign)
            and isinstance(node.target, ast.Name)
            and node.target.id == name
            or isinstance(node, (ast.For, ast.AsyncFor))
            and any(isinstance(n, ast.Name) and n.id == name for n in ast.walk(node.target))
        ):
            yield node, None
        elif isinstance(node, (ast.With, ast.AsyncWith)):
            for item in node.items:
                if item.optional_vars is not None and any(
                    isinstance(n, ast.Name) and n.id == name for n in ast.walk(item.optional_vars)
                ):
                    yield node, None
        elif isinstance(node, ast.NamedExpr) and node.target.id == name:
            yield node, None
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                if (alias.asname or alias.name.split(".")[0]) == name:
                    yield node, None
        elif (
            isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
            and node.name == name
            or isinstance(node, ast.ExceptHandler)
            and node.name == name
            or isinstance(node, ast.Delete)
            and any(isinstance(t, ast.Name) and t.id == name for t in node.targets)
        ):
            yield node, None


@dataclass
class Binding:
    stmt: ast.AST  # the binding statement (Assign, For, ...)
    value: ast.AST | None  # the assigned expression, None when opaque


def reaching_binding(model: SemanticModel, use: ast.Name) -> Binding | None:
    """The one binding of `use` that certainly reaches it, or None when that is not clear."""
    scope = model.scope_of(use)
    before: list[tuple[ast.AST, ast.AST | None]] = []
    use_stmt = statement_of(model, use)
    for node, value in _bindings(scope, use.id):
        if node is use_stmt:
            continue  # `x = f(x)`: the right side sees an earlier binding
        if _end(node) <= _pos(use) or (
            isinstance(node, (ast.For, ast.AsyncFor, ast.With, ast.AsyncWith))
            and _pos(node) < _pos(use)
            and any(a is node for a in model.ancestors(use))
        ):
            before.append((node, value))
        else:
            # a later binding inside a loop around the use may reach it on the next iteration
            loops = {id(a) for a in model.ancestors(use) if isinstance(a, _LOOPS)}
            if any(id(a) in loops for a in model.ancestors(node)):
                return None
    if not before:
        return None
    node, value = max(before, key=lambda b: _pos(b[0]))
    if isinstance(node, (ast.For, ast.AsyncFor, ast.With, ast.AsyncWith)):
        if any(a is node for a in model.ancestors(use)):
            return Binding(node, None)
        return None
    if not isinstance(node, ast.stmt) or not dominates(model, node, use):
        return None
    return Binding(node, value)


def _kind_loose(model: SemanticModel, expr: ast.AST, depth: int = 0):
    """`model.kind`, also seeing through `.to(device)` on losses (`nn.CrossEntropyLoss().to(device)`)."""
    info = model.kind(expr)
    if info is not None or depth > 4:
        return info
    if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute) and expr.func.attr in MOVE_METHODS:
        inner = _kind_loose(model, expr.func.value, depth + 1)
        return inner if inner is not None and inner.kind == Kind.LOSS else None
    if isinstance(expr, ast.Name) and expr.id in model.bound_names:  # else no binding has a value
        b = reaching_binding(model, expr)
        if b is not None and isinstance(b.value, ast.Call):
            return _kind_loose(model, b.value, depth + 1)
    return None


def kind_of(model: SemanticModel, expr: ast.AST):
    """`model.kind(expr)` (parameters take the kind their callers pass), also seeing through
    `.to(device)` on losses."""
    return _kind_loose(model, expr)


# -- losses --------------------------------------------------------------------


@dataclass
class LossCall:
    name: str  # "CrossEntropyLoss" or "cross_entropy"
    call: ast.Call
    defined: ast.AST | None  # where the loss object was built (class form)
    label: str  # how to name it in messages: "`criterion` is `nn.CrossEntropyLoss`"
    defined_in: SemanticModel | None = None  # the file `defined` is in (a caller may build it)

    @property
    def functional(self) -> bool:
        return self.name[:1].islower()


def loss_call(model: SemanticModel, call: ast.Call) -> LossCall | None:
    q = model.call_qualname(call)
    if q is not None:
        fname = is_functional_loss(q)
        if fname:
            return LossCall(fname, call, None, f"`{dotted(call.func) or fname}`")
    info = kind_of(model, call.func)
    if info is not None and info.kind == Kind.LOSS and info.qualname:
        name = loss_name(info.qualname)
        if name:
            shown = dotted(call.func)
            label = f"`{shown}` (`nn.{name}`)" if shown else f"`nn.{name}`"
            return LossCall(name, call, info.node, label, info.model or model)
    return None


def _find_loss_calls(model: SemanticModel) -> list[LossCall]:
    return [lc for lc in (loss_call(model, c) for c in model.calls()) if lc is not None]


# Every call of a torch loss in the file; computed once per model and shared by the TL3xx rules.
loss_calls: Facts[SemanticModel, list[LossCall]] = Facts(_find_loss_calls)


def activated_loss_inputs(model: SemanticModel, names: set[str]):
    """(loss call, its input, the activation that produced the input) for losses in `names`."""
    for lc in loss_calls(model):
        if lc.name not in names:
            continue
        arg = loss_input(lc)
        act = activation_of(model, arg) if arg is not None else None
        if act is not None:
            yield lc, arg, act


def loss_input(lc: LossCall) -> ast.AST | None:
    for kw in lc.call.keywords:
        if kw.arg == "input":
            return kw.value
    return lc.call.args[0] if lc.call.args and not isinstance(lc.call.args[0], ast.Starred) else None


# -- activations ---------------------------------------------------------------


@dataclass
class Activation:
    kind: str  # softmax | log_softmax | sigmoid
    node: ast.AST  # the activation call, or the nn.Softmax(...) constructor
    model: SemanticModel  # the file `node` is in
    how: str  # "call" (function or tensor method), "module_call" (self.softmax(x) / sm(x)), "ctor" (nn.Softmax in a Sequential)
    where: str  # human text: "`out` is `F.softmax(...)` output (line 12)"
    sequential: ast.Call | None = None  # the nn.Sequential holding `node` (how == "ctor")
    arg: ast.AST | None = None  # the activation's input (call / module_call)
    ctor: ast.AST | None = None  # the nn.Softmax(...) constructor of a module_call, when known


def _module_ctor_activation(model: SemanticModel, expr: ast.AST) -> str | None:
    if isinstance(expr, ast.Call):
        q = model.call_qualname(expr)
        if q in ACTIVATION_MODULES:
            return ACTIVATION_MODULES[q]
    return None


def _first_arg(call: ast.Call) -> ast.AST | None:
    for kw in call.keywords:
        if kw.arg == "input":
            return kw.value
    if call.args and not isinstance(call.args[0], ast.Starred):
        return call.args[0]
    return None


def _forward_returns_activation(info, pick, depth: int, seen: frozenset):
    """(activation, forward) when every `return` of the module class's `forward` yields, through
    `pick(returned value)`, output of the same activation; None otherwise."""
    key = (info.cls.model.source.path, info.cls.node.lineno)
    if key in seen:
        return None
    fwd = info.cls.model.find_method(info.cls, "forward")
    if fwd is None:
        return None
    picked = [pick(r.value) if r.value is not None else None for r in walk_scope(fwd.node) if isinstance(r, ast.Return)]
    if not picked or any(v is None for v in picked):
        return None
    acts = [activation_of(fwd.model, v, depth + 1, seen | {key}) for v in picked if v is not None]
    if any(a is None for a in acts) or len({a.kind for a in acts}) != 1:  # type: ignore[union-attr]
        return None
    return acts[0], fwd


def _forward_element(
    model: SemanticModel, call: ast.Call, element: tuple[int, int], depth: int, seen: frozenset
) -> Activation | None:
    """Element `i` (of `n`) of the tuple every `return` of the called module's `forward` builds."""
    info = kind_of(model, call.func)
    if info is None or info.kind != Kind.MODULE or info.cls is None or info.qualname:
        return None
    i, n = element
    found = _forward_returns_activation(
        info, lambda v: v.elts[i] if isinstance(v, ast.Tuple) and len(v.elts) == n else None, depth, seen
    )
    if found is None:
        return None
    first, fwd = found
    name = dotted(call.func) or "the model"
    elsewhere = "" if fwd.model is model else f" (in `{os.path.basename(fwd.model.source.path)}`)"
    return Activation(
        first.kind,
        first.node,
        first.model,
        first.how,
        f"value {i + 1} of the {n} that `{name}` returns, which `{info.cls.name}.forward`{elsewhere} builds from {first.where}",
        first.sequential,
        first.arg,
        first.ctor,
    )


def activation_of(
    model: SemanticModel,
    expr: ast.AST,
    _depth: int = 0,
    _seen: frozenset = frozenset(),
    _element: tuple[int, int] | None = None,
) -> Activation | None:
    """The activation whose output `expr` certainly is (through variables, pass-through
    methods, and into the model's `forward` / `nn.Sequential`), else None."""
    if _depth > 10:
        return None
    if isinstance(expr, ast.Name):
        b = reaching_binding(model, expr)
        if b is None:
            return None
        if isinstance(b.value, ast.expr):
            return activation_of(model, b.value, _depth + 1, _seen)
        # `validity, label = discriminator(x)`: one element of what forward returns
        stmt = b.stmt
        if (
            isinstance(stmt, ast.Assign)
            and len(stmt.targets) == 1
            and isinstance(stmt.targets[0], ast.Tuple)
            and isinstance(stmt.value, ast.Call)
        ):
            elts = stmt.targets[0].elts
            idx = [i for i, e in enumerate(elts) if isinstance(e, ast.Name) and e.id == expr.id]
            if len(idx) == 1 and all(isinstance(e, ast.Name) for e in elts):
                return activation_of(model, stmt.value, _depth + 1, _seen, _element=(idx[0], len(elts)))
        return None
    if not isinstance(expr, ast.Call):
        return None
    if _element is not None:
        return _forward_element(model, expr, _element, _depth, _seen)
    func = expr.func
    q = model.call_qualname(expr)
    if q in ACTIVATION_FUNCTIONS:
        arg = _first_arg(expr)
        return Activation(ACTIVATION_FUNCTIONS[q], expr, model, "call", f"`{dotted(func)}` output", arg=arg)
    if q is not None and q.startswith("torch."):
        return None  # another torch function: unknown effect
    if isinstance(func, ast.Attribute) and q is None:
        if func.attr in ACTIVATION_METHODS and not (isinstance(func.value, ast.Name) and func.value.id == "self"):
            return Activation(func.attr, expr, model, "call", f"`.{func.attr}()` output", arg=func.value)
        if func.attr in VALUE_KEEPING_METHODS and not (isinstance(func.value, ast.Name) and func.value.id == "self"):
            inner_kind = model.kind(func.value)
            if inner_kind is None:  # a tensor, not a module being moved
                return activation_of(model, func.value, _depth + 1, _seen)
            return None
    # a module called: nn.Softmax()(x), self.softmax(x), sm(x), model(x), self.net(x)
    ctor = _module_ctor_activation(model, func)
    if ctor:
        return Activation(
            ctor, expr, model, "module_call", f"`{ast.unparse(func)}` output", arg=_first_arg(expr), ctor=func
        )
    info = kind_of(model, func)
    if info is None or info.kind != Kind.MODULE:
        return None
    if info.qualname in ACTIVATION_MODULES and info.node is not None:
        return Activation(
            ACTIVATION_MODULES[info.qualname],
            expr,
            model,
            "module_call",
            f"`{dotted(func) or 'the module'}` output (a `{info.qualname.rsplit('.', 1)[-1]}`)",
            arg=_first_arg(expr),
            ctor=info.node,
        )
    owner = info.model or model  # a factory may have built it in another file
    if info.qualname == "torch.nn.Sequential" and isinstance(info.node, ast.Call):
        seq = info.node
        if seq.args and not seq.keywords and not isinstance(seq.args[-1], ast.Starred):
            last = seq.args[-1]
            kind = _module_ctor_activation(owner, last)
            if kind:
                name = dotted(func) or "the model"
                return Activation(
                    kind,
                    last,
                    owner,
                    "ctor",
                    f"the output of `{name}`, whose `nn.Sequential` ends with `{ast.unparse(cast(ast.Call, last).func)}`",
                    sequential=seq,
                )
        return None
    if info.cls is not None and not info.qualname:
        found = _forward_returns_activation(info, lambda v: v, _depth, _seen)
        if found is None:
            return None
        first, fwd = found
        name = dotted(func) or "the model"
        elsewhere = "" if fwd.model is model else f" (in `{os.path.basename(fwd.model.source.path)}`)"
        return Activation(
            first.kind,
            first.node,
            first.model,
            first.how,
            f"the output of `{name}`, whose `{info.cls.name}.forward`{elsewhere} returns {first.where}",
            first.sequential,
            first.arg,
            first.ctor,
        )
    return None


def unwrap_activation_text(act: Activation) -> str | None:
    """The replacement text for an activation call that removes it (its input), or None."""
    if act.arg is None:
        return None
    if isinstance(act.node, ast.Call) and act.how in ("call", "module_call"):
        arg = act.arg
        text = act.model.source.segment(arg)
        if isinstance(arg, (ast.Name, ast.Attribute, ast.Call, ast.Subscript, ast.Constant)):
            return text
        return f"({text})"
    return None


# -- loops ---------------------------------------------------------------------


def contains_backward(node: ast.AST) -> bool:
    for n in ast.walk(node):
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr == "backward":
            return True
    return False


# -- train/eval mode ----------------------------------------------------------------


def event_target_expr(event) -> ast.AST | None:
    """The expression of the analysed file that an event's target names: the receiver of
    `model.eval()` / `model(x)`, or the argument a helper call passes (`validate(model)`)."""
    call = event.call
    if not isinstance(call, ast.Call) or not event.target:
        return None
    candidates = [call.func.value] if isinstance(call.func, ast.Attribute) else []
    candidates += [call.func, *call.args, *(k.value for k in call.keywords)]
    return next((c for c in candidates if dotted(c) == event.target), None)


def mode_layers(model: SemanticModel, expr: ast.AST | None) -> frozenset[str] | None:
    """The mode-dependent layers of the model `expr` names, None when unknown."""
    return None if expr is None else model.mode_layers(model.kind(expr))


def mode_layers_text(layers: frozenset[str] | None) -> str:
    """ "its `Dropout` and `BatchNorm2d` layers" / "dropout and batch norm" (unknown model)."""
    if not layers:
        return "dropout and batch norm"
    names = sorted(f"`{n}`" if n != "self.training" else "`self.training` branches" for n in layers)
    shown = ", ".join(names[:-1]) + (" and " if len(names) > 1 else "") + names[-1]
    return f"its {shown}" + ("" if names == ["`self.training` branches"] else " layers")


def only_running_stats_norm(layers: frozenset[str] | None) -> bool:
    """Every mode-dependent layer is an InstanceNorm with running statistics: `eval()` makes it
    use statistics gathered in training, known to break some generators (yunjey/stargan#102)."""
    if not layers:
        return False
    return all(l.startswith(("InstanceNorm", "LazyInstanceNorm")) for l in layers)


def guards(model: SemanticModel, node: ast.AST) -> set[str]:
    """The conditions (as text) of the `if`s whose body holds `node`, in its function."""
    out: set[str] = set()
    child = node
    for a in model.ancestors(node):
        if isinstance(a, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            break
        if isinstance(a, ast.If) and any(child is s for s in a.body):
            out.add(ast.dump(a.test))
        child = a
    return out


def repaired(model: SemanticModel, scope: ast.AST, loop: ast.AST | None = None) -> bool:
    """Part of `scope` did not parse and was blanked out (syntax-error recovery leaves `pass`
    where the broken lines were): what it lacks may be there, in code we cannot read. Rules
    that report something *missing* stay silent in such scopes. At module level (a notebook's
    cells, a long script) only the loop itself counts: one unfinished cell says nothing about
    the others."""
    if model.source.syntax_error is None:
        return False
    lines = model.source.lines
    nodes = ast.walk(loop) if isinstance(scope, ast.Module) and loop is not None else walk_scope(scope)
    for n in nodes:
        if (
            isinstance(n, ast.Pass)
            and 0 < n.lineno <= len(lines)
            and not lines[n.lineno - 1].strip().startswith("pass")
        ):
            return True
    return False


def frozen_models(model: SemanticModel) -> set[str]:
    """Receivers whose every parameter is frozen: `m.requires_grad_(False)`,
    `for p in m.parameters(): p.requires_grad = False` (not `m.features.parameters()`: the rest of
    `m` still builds a graph)."""
    out: set[str] = set()
    for call in model.calls():
        f = call.func
        if isinstance(f, ast.Attribute) and f.attr == "requires_grad_" and call.args:
            a = call.args[0]
            receiver = dotted(f.value)
            if isinstance(a, ast.Constant) and a.value is False and receiver:
                out.add(receiver)
    for loop in cast(list[ast.For], model.nodes_of(ast.For)):
        it = loop.iter
        if not (
            isinstance(it, ast.Call)
            and isinstance(it.func, ast.Attribute)
            and it.func.attr in ("parameters", "named_parameters")
        ):
            continue
        owner = dotted(it.func.value)
        var = loop.target.elts[-1] if isinstance(loop.target, ast.Tuple) and loop.target.elts else loop.target
        if owner is None or not isinstance(var, ast.Name):
            continue
        for n in ast.walk(loop):
            if (
                isinstance(n, ast.Assign)
                and isinstance(n.value, ast.Constant)
                and n.value.value is False
                and any(
                    isinstance(t, ast.Attribute)
                    and t.attr == "requires_grad"
                    and isinstance(t.value, ast.Name)
                    and t.value.id == var.id
                    for t in n.targets
                )
            ):
                out.add(owner)
    return out
