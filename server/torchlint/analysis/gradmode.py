"""Whether gradients are on where a node runs: `torch.no_grad()`, `inference_mode()`,
`set_grad_enabled(...)` and `enable_grad()` blocks and decorators."""

from __future__ import annotations

import ast

from .resolve import SemanticModel, dotted


def in_no_grad(model: SemanticModel, node: ast.AST) -> bool:
    """Is `node` inside `with torch.no_grad()` / `inference_mode()` / `set_grad_enabled(False)`,
    or a function decorated with one of them? The innermost one decides: a `with
    torch.enable_grad():` inside `no_grad` turns gradients back on."""
    for a in model.ancestors(node):
        mode = grad_mode(model, a)
        if mode is not None:
            return mode
    return False


def grad_mode(model: SemanticModel, a: ast.AST) -> bool | None:
    """True when `a` (a `with` or a decorated function) turns gradients off for what it holds,
    False when it turns them on, None when it does neither."""
    if isinstance(a, (ast.With, ast.AsyncWith)):
        items = [i.context_expr for i in a.items]
    elif isinstance(a, (ast.FunctionDef, ast.AsyncFunctionDef)):
        items = a.decorator_list
    else:
        return None
    modes = [m for m in (_grad_switch(model, e) for e in items) if m is not None]
    return modes[-1] if modes else None


def _grad_switch(model: SemanticModel, expr: ast.AST) -> bool | None:
    """True: `no_grad()`, `inference_mode()`, `set_grad_enabled(False)`; False: `enable_grad()`,
    `set_grad_enabled(True)`; None: anything else, unknown, or `inference_mode(False)` (which
    leaves the grad mode as it was)."""
    target = expr.func if isinstance(expr, ast.Call) else expr
    q = model.qualname(target) or ""
    name = q or (dotted(target) or "")
    args = [*expr.args, *(k.value for k in expr.keywords if k.arg == "mode")] if isinstance(expr, ast.Call) else []
    flag = args[0].value if args and isinstance(args[0], ast.Constant) and isinstance(args[0].value, bool) else None
    if name.endswith("no_grad"):
        return True
    if name.endswith("inference_mode"):
        return True if not args or flag is True else None
    if name.endswith("enable_grad"):
        return False
    if name.endswith("set_grad_enabled"):
        return None if flag is None else not flag
    return None
