from __future__ import annotations

import ast

from ..analysis import edits
from ..analysis.findings import Fix, Severity
from . import register
from .base import Rule

# torch.nn.functional dropouts and the `training` default of each (keyword and third positional).
_DROPOUTS = {
    "dropout": True,
    "dropout1d": True,
    "dropout2d": True,
    "dropout3d": True,
    "alpha_dropout": False,
    "feature_alpha_dropout": False,
}


@register
class FunctionalDropoutAlwaysOn(Rule):
    """## What it does
    Checks for `F.dropout(x, p)` (and `dropout1d/2d/3d`, `alpha_dropout`,
    `feature_alpha_dropout`) in the methods of an `nn.Module` without a `training=`
    argument.

    ## Why is this bad?
    Unlike `nn.Dropout`, the functional form does not know the module's mode: it uses
    its own `training` argument, which defaults to `True` for `dropout` (dropout stays on
    after `model.eval()`, so evaluation and inference are noisy and worse) and to `False`
    for `alpha_dropout` and `feature_alpha_dropout` (never on, not even in training).

    `training=True` written out (Monte Carlo dropout) is a choice and is not reported.

    ## Example
    ```python
    def forward(self, x):
        x = F.relu(self.fc1(x))
        x = F.dropout(x, 0.5)
        return self.fc2(x)
    ```

    ## Use instead
    ```python
    def forward(self, x):
        x = F.relu(self.fc1(x))
        x = F.dropout(x, 0.5, training=self.training)
        return self.fc2(x)
    ```

    ## Fix safety
    Safe: adds `training=self.training`, which follows `model.train()` / `model.eval()`.

    ## References
    - [torch.nn.functional.dropout](https://pytorch.org/docs/stable/generated/torch.nn.functional.dropout.html)
    - [torch.nn.Dropout](https://pytorch.org/docs/stable/generated/torch.nn.Dropout.html)
    """

    code = "TL205"
    name = "functional-dropout-always-on"
    severity = Severity.WARNING
    fix = "safe"

    def check(self, ctx):
        m = ctx.model
        for name, default in _DROPOUTS.items():
            for call in m.calls_named(name):
                q = m.call_qualname(call)
                if q != f"torch.nn.functional.{name}":
                    continue
                if len(call.args) > 2 or any(k.arg in ("training", None) for k in call.keywords):
                    continue  # `training` given (or maybe, through **kwargs / *args)
                if any(isinstance(a, ast.Starred) for a in call.args):
                    continue
                cls = m.enclosing_class(call)
                fn = m.enclosing_function(call)
                if cls is None or fn is None or not m.is_module_class(cls) or not _first_param_is_self(fn):
                    continue
                if _only_in_training(m, call):
                    continue  # `if self.training: x = F.dropout(x, p)`: on in training only, as meant
                shown = ctx.source.segment(call.func)
                what = (
                    "stays active in eval mode: `training` defaults to True"
                    if default
                    else "is never active: `training` defaults to False"
                )
                yield ctx.finding(
                    self,
                    call,
                    f"`{shown}(...)` {what}; pass `training=self.training`",
                    fix=_fix(ctx, call),
                )


def _only_in_training(model, node: ast.AST) -> bool:
    """Does `node` run only when `self.training` is true (the body of `if self.training and
    ...:`, the else branch of `if not self.training:`, the same with a conditional expression)?"""
    child = node
    for a in model.ancestors(node):
        if isinstance(a, (ast.Lambda, ast.ClassDef)):
            return False
        if isinstance(a, (ast.If, ast.IfExp)):
            body = a.body if isinstance(a.body, list) else [a.body]
            orelse = a.orelse if isinstance(a.orelse, list) else [a.orelse]
            if any(child is s for s in body) and _requires(a.test, True):
                return True
            if any(child is s for s in orelse) and _requires(a.test, False):
                return True
        for field in ("body", "orelse", "finalbody"):
            block = getattr(a, field, None)
            if isinstance(block, list) and any(child is s for s in block):
                # `if not self.training: return x` earlier in the same block
                before = block[: next(i for i, s in enumerate(block) if s is child)]
                if any(
                    isinstance(s, ast.If)
                    and s.body
                    and isinstance(s.body[-1], (ast.Return, ast.Raise))
                    and _requires(s.test, False)
                    for s in before
                ):
                    return True
        if isinstance(a, (ast.FunctionDef, ast.AsyncFunctionDef)):
            return False
        child = a
    return False


def _requires(test: ast.AST, value: bool) -> bool:
    """Does `test` being `value` imply that `self.training` is true?"""
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        return _requires(test.operand, not value)
    if isinstance(test, ast.BoolOp) and isinstance(test.op, ast.And) and value:
        return any(_requires(v, True) for v in test.values)
    if isinstance(test, ast.BoolOp) and isinstance(test.op, ast.Or) and not value:
        return any(_requires(v, False) for v in test.values)
    is_training = (
        isinstance(test, ast.Attribute)
        and test.attr == "training"
        and isinstance(test.value, ast.Name)
        and test.value.id == "self"
    )
    return is_training and value


def _first_param_is_self(fn: ast.AST) -> bool:
    params = [*fn.args.posonlyargs, *fn.args.args]  # type: ignore[attr-defined]
    return (
        bool(params)
        and params[0].arg == "self"
        and not any(
            getattr(d, "id", None) in ("staticmethod", "classmethod")
            for d in fn.decorator_list  # type: ignore[attr-defined]
        )
    )


def _fix(ctx, call: ast.Call) -> Fix | None:
    edit = edits.add_keyword(ctx.source, call, "training=self.training")
    return Fix("Add `training=self.training`", (edit,), "safe") if edit is not None else None
