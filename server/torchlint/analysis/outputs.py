"""What an evaluation loop computes with a model, and whether a backward pass uses it: names
tainted by a forward's outputs, followed through a function's graph (helpers of
`FlowModel._outputs_trained`)."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING

from .events import Event
from .resolve import dotted, last_name
from .torchapi import LOADER_WRAPPERS

if TYPE_CHECKING:
    from .cfg import CFG, Node

_COUNTERS = {"range", "trange", "xrange", "count"}
# torch.nn layers without parameters: calling one applies a function, it does not run a model.
STATELESS_LAYERS = {
    "ReLU",
    "ReLU6",
    "LeakyReLU",
    "ELU",
    "SELU",
    "CELU",
    "GELU",
    "SiLU",
    "Mish",
    "Sigmoid",
    "Tanh",
    "Softmax",
    "LogSoftmax",
    "Softmin",
    "Softplus",
    "Softsign",
    "Hardtanh",
    "Hardsigmoid",
    "Hardswish",
    "Hardshrink",
    "Softshrink",
    "Tanhshrink",
    "LogSigmoid",
    "Threshold",
    "GLU",
    "Identity",
    "Flatten",
    "Unflatten",
    "MaxPool1d",
    "MaxPool2d",
    "MaxPool3d",
    "AvgPool1d",
    "AvgPool2d",
    "AvgPool3d",
    "AdaptiveAvgPool1d",
    "AdaptiveAvgPool2d",
    "AdaptiveAvgPool3d",
    "AdaptiveMaxPool1d",
    "AdaptiveMaxPool2d",
    "AdaptiveMaxPool3d",
    "Upsample",
    "PixelShuffle",
    "PixelUnshuffle",
    "Dropout",
    "Dropout1d",
    "Dropout2d",
    "Dropout3d",
}
LOADS = re.compile(r"load|restore|checkpoint|pretrained|weights|ckpt", re.IGNORECASE)
# Reading these says nothing about the values: `out.size()`, `out.shape`.
_SHAPE_METHODS = {"size", "dim", "numel"}
_SHAPE_ATTRS = {"shape", "dtype", "device", "ndim"}
# Values that carry no autograd graph, whatever they are computed from.
_DETACHING_METHODS = {"item", "tolist", "detach", "numpy", "argmax", "argmin", "size", "dim", "numel", "eq", "ne"}
_DETACHING_ATTRS = {"data", "shape", "dtype", "device", "ndim"}
# `outs.append(out)`: the receiver now holds model outputs (not `F.cross_entropy(out, y)`).
_MUTATING_METHODS = {
    "append",
    "extend",
    "insert",
    "add",
    "update",
    "setdefault",
    "appendleft",
    "put",
    "__setitem__",
    "add_",
}
_DETACHING_FUNCS = {"float", "int", "len", "bool", "str", "round", "print", "isinstance", "repr"}


# Node visits the output-taint searches of evaluation loops may make per graph. Not charged to
# FUNCTION_BUDGET (running out here must not cost the function its other checks): beyond it,
# loops are not judged (unsure, so silent). Real functions use a few hundred; a function with
# thousands of evaluation loops would otherwise be quadratic.
TAINT_BUDGET = 50_000


def spend_taint(cfg: CFG, steps: int) -> bool:
    cfg.taint_left -= steps
    return cfg.taint_left >= 0


def iterates_counter(expr: ast.AST) -> bool:
    """`range(n)`, `trange(n)`, `itertools.count()` (also inside enumerate/tqdm)."""
    while isinstance(expr, ast.Call) and last_name(expr.func) in LOADER_WRAPPERS and expr.args:
        expr = expr.args[0]
    return isinstance(expr, ast.Call) and last_name(expr.func) in _COUNTERS


def bound_by_loops(e: Event, node: Node, loop: ast.AST) -> bool:
    """`for layer in layers: x = layer(x)` inside `loop` iterates modules, not data."""
    if not e.target:
        return False
    head = e.target.split(".")[0]
    inner = node.loops[node.loops.index(loop) :] if loop in node.loops else ()
    return any(isinstance(l, (ast.For, ast.AsyncFor)) and head in _names(l.target) for l in inner)


def runs_once(stmt: ast.For | ast.AsyncFor) -> bool:
    """The body leaves the loop unconditionally: one batch, looked at."""
    return any(isinstance(s, (ast.Break, ast.Return)) for s in stmt.body)


def _names(target: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(target) if isinstance(n, ast.Name)}


def returns_value(stmt: ast.AST) -> bool:
    if isinstance(stmt, ast.Return):
        return stmt.value is not None
    return any(isinstance(n, (ast.Yield, ast.YieldFrom)) for e in stmt_exprs(stmt) for n in ast.walk(e))


def stmt_exprs(stmt: ast.AST) -> list[ast.AST]:
    """The expressions a CFG node evaluates itself (a compound statement: its header)."""
    if isinstance(stmt, (ast.For, ast.AsyncFor)):
        return [stmt.iter]
    if isinstance(stmt, (ast.If, ast.While)):
        return [stmt.test]
    if isinstance(stmt, (ast.With, ast.AsyncWith)):
        return [i.context_expr for i in stmt.items]
    if isinstance(stmt, ast.Match):
        return [stmt.subject]
    if isinstance(stmt, (ast.Assign, ast.AnnAssign, ast.Return, ast.Expr)):
        return [stmt.value] if stmt.value is not None else []
    if isinstance(stmt, ast.AugAssign):
        return [stmt.value, stmt.target]
    if isinstance(stmt, (ast.Raise, ast.Assert)):
        return [x for x in (getattr(stmt, "exc", None), getattr(stmt, "test", None)) if x is not None]
    return []


def _reads(expr: ast.AST, out: set[str], sources: set[ast.AST]) -> bool:
    """Collect the names and attribute paths `expr` reads into `out`, not looking inside
    values that carry no graph (`loss.item()`, `out.data`, comparisons); True when it
    contains one of the `sources` calls."""
    found = False
    stack = [expr]
    while stack:
        n = stack.pop()
        if n in sources:
            found = True
            continue
        if isinstance(n, (ast.Compare, ast.Lambda)):
            continue
        if isinstance(n, ast.Call):
            f = n.func
            if isinstance(f, ast.Attribute) and f.attr in _DETACHING_METHODS:
                continue
            if isinstance(f, ast.Name) and f.id in _DETACHING_FUNCS:
                continue
        if isinstance(n, ast.Attribute) and n.attr in _DETACHING_ATTRS:
            continue
        if isinstance(n, (ast.Name, ast.Attribute)):
            d = dotted(n)
            if d is not None:
                if not _DETACHING_ATTRS.intersection(d.split(".")[1:]):  # `output.data.max(1)`
                    out.add(d)
                continue
        stack.extend(ast.iter_child_nodes(n))
    return found


def graph_reads(expr: ast.AST) -> set[str]:
    """The names and attribute paths whose autograd graph `expr` may carry on: what it reads,
    not looking inside values that carry none (`loss.item()`, `float(loss)`, `loss.detach()`,
    `out.data`, comparisons)."""
    out: set[str] = set()
    _reads(expr, out, set())
    return out


def uses_values(stmt: ast.AST, tainted: Iterable[str], sources: set[ast.AST]) -> bool:
    """Does the statement use model outputs for their values (a metric, a prediction, a
    loss), not only their shapes? Binding a forward's result (`out, h = rnn(x, h)`) and
    feeding outputs back to the model are not uses."""
    # `out, h = rnn(x, h)` binds; `outs[i] = model(x)` stores a prediction
    if (
        isinstance(stmt, (ast.Assign, ast.AnnAssign, ast.Expr))
        and stmt.value in sources
        and all(
            isinstance(n, (ast.Name, ast.Tuple, ast.List, ast.Starred))
            for t in _targets(stmt)
            for n in ast.walk(t)
            if not isinstance(n, ast.expr_context)
        )
    ):
        return False
    if isinstance(stmt, ast.Assert):
        return False  # checking outputs is testing the network, not evaluating it
    reads: set[str] = set()
    hit = False
    stack = list(stmt_exprs(stmt))
    while stack:
        n = stack.pop()
        if n in sources:
            hit = True  # `criterion(model(x), y)`, `print(model(x))`
            continue
        if isinstance(n, ast.Call):
            f = n.func
            if isinstance(f, ast.Attribute) and f.attr in _SHAPE_METHODS:
                continue
            if (last_name(f) or "").startswith(("assert", "assert_")):
                continue  # `torch.testing.assert_close(lowered(x), mem(x))`
            if isinstance(f, ast.Name) and f.id in ("len", "type", "isinstance"):
                continue
        if isinstance(n, ast.Attribute) and n.attr in _SHAPE_ATTRS:
            continue
        d = dotted(n) if isinstance(n, (ast.Name, ast.Attribute)) else None
        if d is not None:
            reads.add(d)
            continue
        stack.extend(ast.iter_child_nodes(n))
    return hit or _is_tainted(reads, tainted)


def _is_tainted(reads: set[str], tainted: Iterable[str]) -> bool:
    for t in tainted:
        for d in reads:
            if d == t or d.startswith(t + ".") or t.startswith(d + "."):
                return True
    return False


def is_derived(exprs: Sequence[ast.AST], tainted: Iterable[str], sources: set[ast.AST]) -> bool:
    reads: set[str] = set()
    hit = False
    for e in exprs:
        hit = _reads(e, reads, sources) or hit
    return hit or _is_tainted(reads, tainted)


def _target_paths(target: ast.AST) -> Iterator[tuple[str, bool]]:
    """(path written, replaced as a whole?) for an assignment target."""
    if isinstance(target, (ast.Tuple, ast.List)):
        for e in target.elts:
            yield from _target_paths(e)
    elif isinstance(target, ast.Starred):
        yield from _target_paths(target.value)
    elif isinstance(target, (ast.Name, ast.Attribute)):
        d = dotted(target)
        if d:
            yield d, True
    elif isinstance(target, ast.Subscript):
        d = dotted(target.value)
        if d:
            yield d, False  # `outs[i] = out`: the container now holds it


def _targets(stmt: ast.AST) -> list[ast.AST]:
    if isinstance(stmt, ast.Assign):
        return list(stmt.targets)
    if isinstance(stmt, (ast.AnnAssign, ast.AugAssign)) and getattr(stmt, "value", None) is not None:
        return [stmt.target]
    if isinstance(stmt, (ast.For, ast.AsyncFor)):
        return [stmt.target]
    if isinstance(stmt, (ast.With, ast.AsyncWith)):
        return [i.optional_vars for i in stmt.items if i.optional_vars is not None]
    return []


def written(stmt: ast.AST) -> set[str]:
    return {p for t in _targets(stmt) for p, _ in _target_paths(t)}


def mutated(stmt: ast.AST, tainted: Iterable[str], sources: set[ast.AST]) -> set[str]:
    """Receivers that take model outputs in: `outs.append(out)`, `hist['val'].extend(...)`."""
    out = set()
    for e in stmt_exprs(stmt):
        for n in ast.walk(e):
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr in _MUTATING_METHODS:
                args = [*n.args, *(k.value for k in n.keywords)]
                if args and is_derived(args, tainted, sources):
                    base = n.func.value
                    while isinstance(base, ast.Subscript):
                        base = base.value
                    d = dotted(base)
                    if d:
                        out.add(d)
    return out


def transfer(stmt: ast.AST, state: frozenset[str], derived: bool, sources: set[ast.AST]) -> frozenset[str]:
    new = set(state)
    weak = isinstance(stmt, ast.AugAssign)
    for t in _targets(stmt):
        for path, whole in _target_paths(t):
            if whole and not weak:
                new = {x for x in new if x != path and not x.startswith(path + ".")}
            if derived:
                new.add(path)
    new |= mutated(stmt, state, sources)
    return frozenset(new)


def callee_reads(fn: ast.AST, tainted: Iterable[str], module_level: bool) -> bool:
    """Does a helper's body name something tainted that it can see without being passed it:
    an attribute path (`policy.saved_log_probs`), or a global of module-level code?"""
    wanted = {t.rsplit(".", 1)[-1] for t in tainted if "." in t or module_level}
    if not wanted:
        return False
    for n in ast.walk(fn):
        if (isinstance(n, ast.Name) and n.id in wanted) or (isinstance(n, ast.Attribute) and n.attr in wanted):
            return True
    return False
