from __future__ import annotations

import ast

from ..analysis.events import Ev
from ..analysis.findings import Edit, Fix, Severity
from ..analysis.outputs import graph_reads
from ..analysis.resolve import dotted, walk_scope
from . import register
from ._helpers import reaching_binding
from .base import Rule

_LOOPS = (ast.For, ast.AsyncFor, ast.While)


@register
class LossHistoryKept(Rule):
    """## What it does
    Checks for a loss tensor that is back-propagated and also accumulated across the
    iterations of the training loop as a tensor: `total += loss`,
    `total = total + loss`, `losses.append(loss)`.

    ## Why is this bad?
    The loss carries its autograd graph. Adding it to a running total (or keeping it in a
    list) keeps every iteration's graph alive through the total, so memory grows with each
    batch until the epoch ends (or the GPU runs out), and the total itself becomes a tensor
    with a history thousands of operations long. The PyTorch FAQ's first entry.

    Only the value that reaches `backward()` is judged; `loss.item()`, `float(loss)` and
    `loss.detach()` carry no graph, and a total that is itself back-propagated (a sum over
    time steps, then `backward()`) is how the loss is built.

    ## Example
    ```python
    total_loss = 0
    for x, y in loader:
        loss = criterion(model(x), y)
        loss.backward()
        optimizer.step()
        total_loss += loss
    ```

    ## Use instead
    ```python
    total_loss = 0
    for x, y in loader:
        loss = criterion(model(x), y)
        loss.backward()
        optimizer.step()
        total_loss += loss.item()
    ```

    ## Fix safety
    Safe: accumulates `loss.item()`, a Python number, or `loss.detach()` when the total or
    the list is later used as a tensor (`total.item()`, `torch.stack(losses)`).

    ## References
    - [PyTorch FAQ: accumulating history across the training loop](https://pytorch.org/docs/stable/notes/faq.html#my-model-reports-cuda-runtime-error-2-out-of-memory)
    - [torch.Tensor.item](https://pytorch.org/docs/stable/generated/torch.Tensor.item.html)
    """

    code = "TL106"
    name = "loss-history-kept"
    severity = Severity.WARNING
    fix = "safe"

    def check(self, ctx):
        m = ctx.model
        for cfg in ctx.flow.all_cfgs(mentioning=("backward",)):
            scope = cfg.scope
            backs = [e.call for _, e in cfg.direct_events(Ev.BACKWARD) if isinstance(e.call, ast.Call)]
            if not backs:
                continue
            # what the scope back-propagates: names read by any backward's receiver
            propagated = set().union(*(graph_reads(_receiver(c)) for c in backs if _receiver(c) is not None))
            losses = [(c, n) for c in backs if (n := _loss_name(c)) is not None]
            if not losses:
                continue
            reported = set()
            for stmt in walk_scope(scope):
                acc = _accumulation(stmt)
                if acc is None:
                    continue
                target, value = acc
                target_text = ast.unparse(target)
                base = dotted(_base(target))
                if base is None or _reaches(base, propagated):
                    continue  # the total is back-propagated itself: it is the loss being built
                for back, loss in losses:
                    used = [n for n in ast.walk(value) if isinstance(n, ast.Name) and n.id == loss.id]
                    if not used or not _reaches(loss.id, graph_reads(value)):
                        continue
                    loop = _innermost_loop(m, stmt)
                    if loop is None or not any(a is loop for a in m.ancestors(back)):
                        continue
                    if _rebound_in(m, loop, target, stmt):
                        continue  # reset every iteration: nothing is kept across them
                    b_use = reaching_binding(m, loss)
                    s_use = reaching_binding(m, used[0])
                    if b_use is None or s_use is None or b_use.stmt is not s_use.stmt:
                        continue  # not known to be the same value as the one back-propagated
                    if id(stmt) in reported:
                        continue
                    reported.add(id(stmt))
                    method = "detach" if _used_as_tensor(m, scope, target, stmt) else "item"
                    fix = None
                    if all(not isinstance(m.parent(n), ast.Attribute) for n in used):  # not `loss.cpu()`
                        edits = tuple(Edit(ctx.source.span(n), f"{n.id}.{method}()") for n in used)
                        fix = Fix(f"Accumulate `{loss.id}.{method}()`", edits, "safe")
                    yield ctx.finding(
                        self,
                        used[0],
                        f"`{loss.id}` is kept with its autograd graph in `{target_text}` across iterations: "
                        f"memory grows with every iteration; accumulate `{loss.id}.{method}()`",
                        fix=fix,
                        related=[ctx.related(m, back, "the loss is back-propagated here")],
                    )


def _receiver(call: ast.Call) -> ast.AST | None:
    func = call.func
    if isinstance(func, ast.Attribute) and func.attr == "backward":
        return func.value
    return call.args[0] if call.args else None


def _loss_name(call: ast.Call) -> ast.Name | None:
    """The name of the loss a backward call back-propagates: `loss.backward()`,
    `scaler.scale(loss).backward()`, `(loss / accum).backward()`, `torch.autograd.backward(loss)`."""
    recv = _receiver(call)
    while True:
        if (
            isinstance(recv, ast.Call)
            and isinstance(recv.func, ast.Attribute)
            and recv.func.attr == "scale"
            and len(recv.args) == 1
        ):
            recv = recv.args[0]
        elif (
            isinstance(recv, ast.BinOp)
            and isinstance(recv.op, (ast.Div, ast.Mult))
            and isinstance(recv.right, (ast.Constant, ast.Name))
        ):
            recv = recv.left
        else:
            break
    return recv if isinstance(recv, ast.Name) else None


def _accumulation(stmt: ast.AST) -> tuple[ast.AST, ast.AST] | None:
    """(accumulator, value added) for `t += v`, `t = t + v` / `t = v + t`, `t.append(v)`."""
    if isinstance(stmt, ast.AugAssign) and isinstance(stmt.op, ast.Add):
        return stmt.target, stmt.value
    if (
        isinstance(stmt, ast.Assign)
        and len(stmt.targets) == 1
        and isinstance(stmt.value, ast.BinOp)
        and isinstance(stmt.value.op, ast.Add)
    ):
        t = ast.unparse(stmt.targets[0])
        v = stmt.value
        if ast.unparse(v.left) == t:
            return stmt.targets[0], v.right
        if ast.unparse(v.right) == t:
            return stmt.targets[0], v.left
        return None
    if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call):
        call = stmt.value
        if (
            isinstance(call.func, ast.Attribute)
            and call.func.attr == "append"
            and len(call.args) == 1
            and not call.keywords
        ):
            return call.func.value, call.args[0]
    return None


def _base(target: ast.AST) -> ast.AST:
    while isinstance(target, ast.Subscript):
        target = target.value
    return target


def _reaches(name: str, reads: set[str]) -> bool:
    return any(d == name or d.startswith(name + ".") or name.startswith(d + ".") for d in reads)


def _innermost_loop(model, node: ast.AST) -> ast.AST | None:
    for a in model.ancestors(node):
        if isinstance(a, _LOOPS):
            return a
        if isinstance(a, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            return None
    return None


def _rebound_in(model, loop: ast.AST, target: ast.AST, stmt: ast.AST) -> bool:
    """Is the accumulator (or the container it lives in) assigned anew inside the loop?"""
    names = {ast.unparse(target), ast.unparse(_base(target))}
    for n in ast.walk(loop):
        if n is stmt:
            continue
        if isinstance(n, (ast.Assign, ast.AnnAssign)):
            ts = n.targets if isinstance(n, ast.Assign) else [n.target]
            for t in ts:
                for part in ast.walk(t):
                    if (
                        isinstance(part, (ast.Name, ast.Attribute, ast.Subscript))
                        and isinstance(part.ctx, ast.Store)
                        and ast.unparse(part) in names
                    ):
                        return True
        if isinstance(n, (ast.For, ast.AsyncFor, ast.With)) and n is not loop:
            targets = (
                [n.target]
                if isinstance(n, (ast.For, ast.AsyncFor))
                else [i.optional_vars for i in n.items if i.optional_vars]
            )
            if any(
                ast.unparse(p) in names
                for t in targets
                for p in ast.walk(t)
                if isinstance(p, (ast.Name, ast.Attribute))
            ):
                return True
    return False


def _used_as_tensor(model, scope: ast.AST, target: ast.AST, stmt: ast.AST) -> bool:
    """Is the accumulator used as a tensor elsewhere (`total.item()`, `torch.stack(losses)`,
    handed to a function or returned), so that a Python number in it would break that use?"""
    text = ast.unparse(target)
    base = ast.unparse(_base(target))
    inside = set(map(id, ast.walk(stmt)))
    for n in walk_scope(scope):
        if id(n) in inside or not isinstance(n, (ast.Name, ast.Attribute, ast.Subscript)):
            continue
        if not isinstance(getattr(n, "ctx", None), ast.Load) or ast.unparse(n) not in (text, base):
            continue
        parent = model.parent(n)
        if isinstance(parent, ast.Attribute) and parent.attr not in ("append", "extend"):
            return True  # `total.item()`, `total.cpu()`, `losses.index(...)`
        if isinstance(parent, ast.Call) and n in parent.args:
            q = model.call_qualname(parent) or ""
            if q.startswith("torch.") or model.resolve_function(parent) is not None:
                return True
        if isinstance(parent, (ast.Return, ast.Yield)):
            return True
    return False
