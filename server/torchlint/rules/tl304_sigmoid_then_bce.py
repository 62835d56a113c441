from __future__ import annotations

import ast

from ..analysis.findings import Edit, Fix, Severity
from ..analysis.resolve import walk_scope
from . import register
from ._helpers import activated_loss_inputs, loss_calls, reaching_binding
from .base import Rule
from .tl301_probabilities_into_cross_entropy import remove_activation_fix

_BCE = {"BCELoss", "binary_cross_entropy"}
_LOGITS_NAME = {"BCELoss": "BCEWithLogitsLoss", "binary_cross_entropy": "binary_cross_entropy_with_logits"}


@register
class SigmoidThenBce(Rule):
    """## What it does
    Checks for `sigmoid` outputs passed to `nn.BCELoss` / `F.binary_cross_entropy`: at the
    call, through variables, or as the last operation of the model's `forward` or
    `nn.Sequential` (a GAN discriminator ending in `nn.Sigmoid()` is the common case).

    ## Why is this bad?
    `sigmoid` followed by `log` loses precision: for confident predictions the probability
    rounds to exactly 0 or 1, `BCELoss` clamps `log(0)` to -100, and the gradient through the
    saturated sigmoid vanishes. `BCEWithLogitsLoss` fuses both with the log-sum-exp trick:
    the same loss, numerically stable, and it is the one autocast (AMP) allows
    (`BCELoss` raises under `torch.autocast`). This is advice, not a bug: many correct
    tutorials use `Sigmoid` + `BCELoss`.

    ## Example
    ```python
    criterion = nn.BCELoss()
    loss = criterion(torch.sigmoid(logits), target)
    ```

    ## Use instead
    ```python
    criterion = nn.BCEWithLogitsLoss()
    loss = criterion(logits, target)
    ```

    ## Fix safety
    Unsafe, and offered only when both edits are local and certain: the `sigmoid` is applied
    in the same function, its output goes nowhere but this loss, and the loss is a functional
    call or a loss object used by this call only (both spelled through a module, `nn.` /
    `F.`, so no import changes). When the sigmoid ends the model (its `forward` or
    `nn.Sequential`), other code usually reads the model's output as probabilities
    (`D(x).mean()` statistics, thresholds, sampling): no fix is offered; move the sigmoid out
    of the model and apply `torch.sigmoid` where probabilities are needed.

    ## References
    - [torch.nn.BCEWithLogitsLoss](https://pytorch.org/docs/stable/generated/torch.nn.BCEWithLogitsLoss.html)
    - [torch.nn.BCELoss](https://pytorch.org/docs/stable/generated/torch.nn.BCELoss.html)
    - [Automatic mixed precision: prefer binary_cross_entropy_with_logits](https://pytorch.org/docs/stable/amp.html#prefer-binary-cross-entropy-with-logits-over-binary-cross-entropy)
    """

    code = "TL304"
    name = "sigmoid-then-bce"
    severity = Severity.INFORMATION
    fix = "unsafe"

    def check(self, ctx):
        # one finding per (activation, loss): a GAN calls the same loss on D's output three times
        groups: dict[tuple[int, int], list] = {}
        for lc, arg, act in activated_loss_inputs(ctx.model, _BCE):
            if act.kind != "sigmoid":
                continue
            groups.setdefault((id(act.node), id(lc.defined or lc.call)), []).append((lc, arg, act))
        for items in groups.values():
            lc, arg, act = items[0]
            in_model = act.how == "ctor" or ctx.model.enclosing_function(act.node) is not ctx.model.enclosing_function(
                lc.call
            )
            subject = f"`{ctx.source.segment(arg)}`" if isinstance(arg, ast.Name) else "the input"
            better = "`F.binary_cross_entropy_with_logits`" if lc.functional else "`nn.BCEWithLogitsLoss`"
            msg = f"{lc.label} after `sigmoid` is numerically unstable; {subject} is {act.where}: pass the logits to {better}"
            if in_model:
                msg += " and apply `torch.sigmoid` only where probabilities are needed"
            related = [ctx.related(act.model, act.node, "`sigmoid` applied here")]
            if lc.defined is not None:
                related.append(ctx.related(lc.defined_in or ctx.model, lc.defined, "the loss is built here"))
            related += [
                ctx.related(ctx.model, other.call, "also given this `sigmoid` output") for other, _, _ in items[1:]
            ]
            fix = None if in_model or len(items) > 1 else _fix(ctx, lc, arg, act)
            yield ctx.finding(self, arg, msg, fix, related)


def _fix(ctx, lc, arg, act) -> Fix | None:
    model = ctx.model
    if act.how != "call" or not _only_feeds(model, arg):
        return None
    removal = remove_activation_fix(ctx, act)
    switch = _switch_loss(ctx, lc)
    if removal is None or switch is None:
        return None
    new = _LOGITS_NAME[lc.name]
    return Fix(f"Drop the `sigmoid` and use `{new}`", (*removal.edits, switch), "unsafe")


def _only_feeds(model, arg: ast.AST) -> bool:
    """The loss's input is the sigmoid call itself, or a name bound to it once and read only here."""
    if isinstance(arg, ast.Call):
        return True
    if not isinstance(arg, ast.Name):
        return False
    b = reaching_binding(model, arg)
    if b is None:
        return False
    scope = model.scope_of(arg)
    reads = [n for n in walk_scope(scope) if isinstance(n, ast.Name) and n.id == arg.id and isinstance(n.ctx, ast.Load)]
    writes = [
        n for n in walk_scope(scope) if isinstance(n, ast.Name) and n.id == arg.id and not isinstance(n.ctx, ast.Load)
    ]
    return reads == [arg] and len(writes) == 1


def _switch_loss(ctx, lc) -> Edit | None:
    """`nn.BCELoss(...)` -> `nn.BCEWithLogitsLoss(...)` / `F.binary_cross_entropy` -> `..._with_logits`,
    when spelled as an attribute (no import to change) and, for a loss object, used by this call only."""
    model = ctx.model
    if lc.functional:
        func = lc.call.func
    else:
        if lc.defined_in is not model:
            return None  # built in another file: an edit there is not this file's fix
        if not isinstance(lc.defined, ast.Call) or sum(1 for o in loss_calls(model) if o.defined is lc.defined) != 1:
            return None
        if not _bound_once(model, lc):
            return None
        func = lc.defined.func
    if not isinstance(func, ast.Attribute) or func.attr != lc.name:
        return None
    end = ctx.source.span(func).end
    span = type(ctx.source.span(func))(type(end)(end.line, end.column - len(func.attr)), end)
    return Edit(span, _LOGITS_NAME[lc.name])


def _bound_once(model, lc) -> bool:
    """The loss object is bound to one plain name, used nowhere but as this call's callee."""
    stmt = model.parent(lc.defined)
    if not (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name)):
        return False
    name = stmt.targets[0].id
    scope = model.scope_of(stmt)
    names = model.nodes_of(ast.Name) if scope is model.tree else walk_scope(scope)  # a global may be read anywhere
    uses = [n for n in names if isinstance(n, ast.Name) and n.id == name and n is not stmt.targets[0]]
    return len(uses) == 1 and uses[0] is lc.call.func
