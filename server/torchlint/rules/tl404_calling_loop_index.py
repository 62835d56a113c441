from __future__ import annotations

import ast

from ..analysis.findings import Edit, Fix, Severity
from ..analysis.resolve import walk_scope
from . import register
from .base import Rule

_NAMES = ("layer", "module", "block", "layer_", "module_")


def _range_len_container(it: ast.AST) -> ast.AST | None:
    """C in `range(len(C))` / `range(0, len(C))` / `range(0, len(C), 1)`."""
    if not (isinstance(it, ast.Call) and isinstance(it.func, ast.Name) and it.func.id == "range" and not it.keywords):
        return None
    args = it.args
    if len(args) == 1:
        n = args[0]
    elif (
        len(args) in (2, 3)
        and isinstance(args[0], ast.Constant)
        and args[0].value == 0
        and (len(args) == 2 or (isinstance(args[2], ast.Constant) and args[2].value == 1))
    ):
        n = args[1]
    else:
        return None
    if (
        isinstance(n, ast.Call)
        and isinstance(n.func, ast.Name)
        and n.func.id == "len"
        and len(n.args) == 1
        and not n.keywords
    ):
        return n.args[0]
    return None


def _body_nodes(loop: ast.For):
    stack: list[ast.AST] = [*loop.body, *loop.orelse]
    while stack:
        n = stack.pop()
        yield n
        for c in ast.iter_child_nodes(n):
            if not isinstance(c, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
                stack.append(c)


@register
class CallingLoopIndex(Rule):
    """## What it does
    Checks for loops over `range(len(self.layers))` that call the index (`i(x)`) instead of
    the layer (`self.layers[i](x)`).

    ## Why is this bad?
    The loop variable is an `int`: calling it raises `TypeError: 'int' object is not callable`
    the first time `forward` runs. Iterating the container directly says what is meant and
    cannot go wrong this way.

    ## Example
    ```python
    def forward(self, x):
        for i in range(len(self.layers)):
            x = i(x)
        return x
    ```

    ## Use instead
    ```python
    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return x
    ```

    ## Fix safety
    Safe: the loop iterates the container itself (with `enumerate` when the index is used
    for something else too), and the calls use the element.

    ## References
    - [torch.nn.ModuleList](https://pytorch.org/docs/stable/generated/torch.nn.ModuleList.html)
    - [Python: for statements](https://docs.python.org/3/tutorial/controlflow.html#for-statements)
    """

    code = "TL404"
    name = "calling-loop-index"
    severity = Severity.ERROR
    fix = "safe"

    def check(self, ctx):
        model = ctx.model
        for loop in model.nodes_of(ast.For):
            if not isinstance(loop, ast.For) or not isinstance(loop.target, ast.Name):
                continue
            container = _range_len_container(loop.iter)
            if container is None:
                continue
            i = loop.target.id
            body = list(_body_nodes(loop))
            if any(isinstance(n, ast.Name) and n.id == i and isinstance(n.ctx, (ast.Store, ast.Del)) for n in body):
                continue  # rebound inside the loop
            calls = [n for n in body if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == i]
            if not calls:
                continue
            cseg = ctx.source.segment(container)
            fix = self._fix(ctx, loop, container, calls)
            for call in calls:
                msg = f"`{i}` is an index into `{cseg}` (an `int`), and calling it raises `TypeError`: call `{cseg}[{i}](...)`, or iterate `{cseg}` directly"
                yield ctx.finding(self, call, msg, fix)

    @staticmethod
    def _fix(ctx, loop: ast.For, container: ast.AST, calls: list[ast.Call]) -> Fix | None:
        model = ctx.model
        scope = model.scope_of(loop)
        i = loop.target.id  # type: ignore[attr-defined]
        taken = {n.id for n in walk_scope(scope) if isinstance(n, ast.Name)} | {
            n.arg for n in ast.walk(scope) if isinstance(n, ast.arg)
        }
        name = next((n for n in _NAMES if n not in taken), None)
        if name is None:
            return None
        call_funcs = {id(c.func) for c in calls}
        other_uses = any(
            isinstance(n, ast.Name) and n.id == i and id(n) not in call_funcs
            for n in walk_scope(scope)
            if n is not loop.target
        )
        cseg = ctx.source.segment(container)
        src = ctx.source
        header_span = type(src.span(loop))(src.span(loop.target).start, src.span(loop.iter).end)
        header = f"{i}, {name} in enumerate({cseg})" if other_uses else f"{name} in {cseg}"
        es = [Edit(header_span, header)] + [Edit(src.span(c.func), name) for c in calls]
        title = f"Iterate `{cseg}`: `for {header}:`"
        return Fix(title, tuple(es), "safe")
