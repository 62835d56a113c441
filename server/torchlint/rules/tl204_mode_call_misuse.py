from __future__ import annotations

import ast
import re
from typing import cast

from ..analysis import edits
from ..analysis.findings import Edit, Fix, Severity
from ..analysis.resolve import SemanticModel, dotted, walk_scope
from ..analysis.torchapi import LOADER_WRAPPERS, Kind, name_hint
from . import register
from ._helpers import kind_of, reaching_binding, statement_of
from .base import Rule

_DATA_NAME = re.compile(
    r"^(x|xb|inputs?|data|batch|batch_data|images?|imgs?|samples?|features|x_train|train_x|train_data|"
    r"train_set|trainset|train_dataset|dataset|loader|train_loader|trainloader|dataloader|train_dataloader|"
    r"input_ids|tokens|src|examples)$",
    re.IGNORECASE,
)
_TENSOR_FACTORIES = {
    "torch.randn",
    "torch.rand",
    "torch.zeros",
    "torch.ones",
    "torch.tensor",
    "torch.from_numpy",
    "torch.stack",
    "torch.cat",
    "torch.randint",
    "torch.empty",
    "torch.full",
    "torch.arange",
    "torch.as_tensor",
    "torch.Tensor",
    "torch.FloatTensor",
    "torch.LongTensor",
    "torch.linspace",
}
_BOOLISH = (ast.Compare, ast.BoolOp)


def _is_module_receiver(
    model: SemanticModel, recv: ast.AST, corroborate: bool
) -> tuple[bool, ast.ClassDef | None, SemanticModel | None]:
    """(is a torch module, its class node when known, that class's model)."""
    if isinstance(recv, ast.Name) and recv.id == "self":
        cls = model.enclosing_class(recv)
        if cls is not None and model.is_module_class(cls):
            return True, cls, model
        return False, None, None
    info = kind_of(model, recv)
    if info is not None:
        if info.kind != Kind.MODULE:
            return False, None, None
        return True, (info.cls.node if info.cls else None), (info.cls.model if info.cls else None)
    name = dotted(recv)
    if name is None or name_hint(name.rsplit(".", 1)[-1]) != Kind.MODULE:
        return False, None, None
    if not corroborate:
        return True, None, None
    # A name like `model` of unknown type: only when the same scope also uses it as a torch module.
    scope = model.scope_of(recv)
    for n in walk_scope(scope):
        if (
            isinstance(n, ast.Call)
            and isinstance(n.func, ast.Attribute)
            and dotted(n.func.value) == name
            and n.func.attr in ("parameters", "named_parameters", "zero_grad", "state_dict", "load_state_dict")
        ):
            return True, None, None
    return False, None, None


def _overrides_train(model: SemanticModel, cls: ast.ClassDef | None, cls_model: SemanticModel | None) -> bool:
    """True when the class defines its own `train(...)` that is not `train(self, mode=True)`."""
    if cls is None or cls_model is None:
        return False
    ref = cls_model.find_method(cls_model.class_info(cls), "train")
    if ref is None:
        return False
    params = [*ref.node.args.posonlyargs, *ref.node.args.args][1:]
    if not params:
        return True
    if params[0].arg == "mode":
        return False
    defaults = ref.node.args.defaults
    return not (
        defaults
        and len(params) == len(defaults) == 1
        and isinstance(defaults[0], ast.Constant)
        and isinstance(defaults[0].value, bool)
    )


def _not_a_mode(model: SemanticModel, arg: ast.AST, depth: int = 0) -> str | None:
    """Why `arg` is certainly not a bool mode (for the message), or None."""
    if depth > 4:
        return None
    if isinstance(arg, ast.Constant):
        return "a string" if isinstance(arg.value, str) else None
    if isinstance(arg, (ast.List, ast.Tuple, ast.Dict, ast.ListComp)):
        return "a container"
    info = kind_of(model, arg)
    if info is not None and info.kind in (Kind.DATALOADER, Kind.DATASET, Kind.ITERABLE_DATASET):
        return {Kind.DATALOADER: "a dataloader", Kind.DATASET: "a dataset"}.get(info.kind, "an iterable dataset")
    if isinstance(arg, ast.Call):
        q = model.call_qualname(arg)
        if q in _TENSOR_FACTORIES:
            return "a tensor"
        if (
            isinstance(arg.func, ast.Attribute)
            and arg.func.attr in ("to", "cuda", "float")
            and not (info and info.kind == Kind.MODULE)
        ):
            return _not_a_mode(model, arg.func.value, depth + 1)
        return None
    if not isinstance(arg, ast.Name):
        return None
    scope = model.scope_of(arg)
    ann = model.param_annotation(scope, arg.id)
    if ann is not None and dotted(ann) == "bool":
        return None
    b = reaching_binding(model, arg)
    if b is not None and isinstance(b.stmt, (ast.For, ast.AsyncFor)) and b.value is None:
        it = b.stmt.iter
        while isinstance(it, ast.Call) and isinstance(it.func, ast.Name) and it.func.id in LOADER_WRAPPERS and it.args:
            it = it.args[0]
        k = kind_of(model, it)
        name = dotted(it)
        hint = name_hint(name.rsplit(".", 1)[-1]) if name else None
        if (k is not None and k.kind == Kind.DATALOADER) or (k is None and hint == Kind.DATALOADER):
            return f"a batch from `{dotted(it)}`"
        return None
    if b is not None and isinstance(b.value, ast.expr):
        v = b.value
        if isinstance(v, _BOOLISH) or (isinstance(v, ast.UnaryOp) and isinstance(v.op, ast.Not)):
            return None
        if isinstance(v, ast.Constant) and isinstance(v.value, bool):
            return None
        found = _not_a_mode(model, v, depth + 1)
        if found:
            return found
    if b is None and model.is_param(scope, arg.id) and isinstance(scope, (ast.FunctionDef, ast.AsyncFunctionDef)):
        # a parameter with a bool default is a flag
        a = scope.args
        pos = [*a.posonlyargs, *a.args]
        defaults = dict(zip([p.arg for p in pos][len(pos) - len(a.defaults) :], a.defaults))
        defaults.update({p.arg: d for p, d in zip(a.kwonlyargs, a.kw_defaults) if d is not None})
        d = defaults.get(arg.id)
        if isinstance(d, ast.Constant) and isinstance(d.value, bool):
            return None
    if _DATA_NAME.match(arg.id):
        return "data"
    return None


@register
class ModeCallMisuse(Rule):
    """## What it does
    Checks for `model.train(inputs)`, which does not train the model, and for `model.train` /
    `model.eval` written as a statement without calling them.

    ## Why is this bad?
    `nn.Module.train(mode=True)` only sets the training flag (of Dropout, BatchNorm...) and
    returns the module: `model.train(data)` runs no forward pass, no loss and no update, and
    since the data is truthy it just leaves the model in training mode. A bare `model.eval`
    statement does nothing at all: the model stays in training mode, Dropout stays active and
    BatchNorm keeps updating its running statistics during evaluation.

    `model.train(True)`, `model.train(mode=flag)`, `model.train(not frozen)`, classes that
    define their own `train(data)` method, and `model.eval` passed as a value (a callback) are
    fine and not reported.

    ## Example
    ```python
    model.train(train_data)
    ...
    model.eval
    with torch.no_grad():
        preds = model(x_test)
    ```

    ## Use instead
    ```python
    model.train()
    output = model(train_data)
    ...
    model.eval()
    with torch.no_grad():
        preds = model(x_test)
    ```

    ## Fix safety
    Unsafe: `model.train(x)` becomes `model.train()` followed by `model(x)`, which now runs a
    forward pass the code did not run before (the loss and the optimizer step still have to be
    written); adding `()` to a bare `model.eval` changes the mode the following code runs in,
    which is the intent but changes results.

    ## References
    - [torch.nn.Module.train](https://pytorch.org/docs/stable/generated/torch.nn.Module.html#torch.nn.Module.train)
    - [torch.nn.Module.eval](https://pytorch.org/docs/stable/generated/torch.nn.Module.html#torch.nn.Module.eval)
    """

    code = "TL204"
    name = "mode-call-misuse"
    severity = Severity.ERROR
    fix = "unsafe"

    def check(self, ctx):
        model = ctx.model
        for node in model.nodes_of(ast.Expr, ast.Call):
            if (
                isinstance(node, ast.Expr)
                and isinstance(node.value, ast.Attribute)
                and node.value.attr in ("train", "eval")
            ):
                attr = node.value
                ok, _, _ = _is_module_receiver(model, attr.value, corroborate=False)
                if not ok:
                    continue
                shown = ctx.source.segment(attr)
                end = ctx.source.span(attr).end
                fix = Fix(f"Call it: `{shown}()`", (edits.insert_at(end, "()"),), "unsafe")
                mode = "evaluation" if attr.attr == "eval" else "training"
                yield ctx.finding(
                    self,
                    attr,
                    f"`{shown}` is not called: the statement does nothing and the model is not switched to {mode} mode",
                    fix,
                )
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "train":
                yield from self._train_with_data(ctx, node)

    def _train_with_data(self, ctx, call: ast.Call):
        model = ctx.model
        if not call.args or any(isinstance(a, ast.Starred) for a in call.args) or call.keywords:
            return
        recv = cast(ast.Attribute, call.func).value  # `x.train(...)`
        ok, cls, cls_model = _is_module_receiver(model, recv, corroborate=True)
        if not ok or _overrides_train(model, cls, cls_model):
            return
        why: str | None
        if len(call.args) >= 2:
            why = "several arguments"
        else:
            why = _not_a_mode(model, call.args[0])
        if why is None:
            return
        r = ctx.source.segment(recv)
        args = ", ".join(ctx.source.segment(a) for a in call.args)
        head = (
            f"`{r}.train({args})` does not train: `train(mode)` only switches `{r}` to training mode "
            f"and returns it (`{args}` is {why}, not a bool)"
        )
        if why in ("a dataloader", "a dataset", "an iterable dataset"):
            yield ctx.finding(self, call, f"{head}; call `{r}.train()`, then loop over the batches of `{args}`")
            return
        yield ctx.finding(self, call, f"{head}; call `{r}.train()`, then `{r}({args})`", self._fix(ctx, call, r))

    @staticmethod
    def _fix(ctx, call: ast.Call, r: str) -> Fix | None:
        src = ctx.source
        stmt = statement_of(ctx.model, call)
        if not isinstance(stmt, (ast.Expr, ast.Assign, ast.AnnAssign, ast.AugAssign, ast.Return)):
            return None
        text, func_text = src.segment(call), src.segment(call.func)
        if not text.startswith(func_text):
            return None
        forward = r + text[len(func_text) :]
        if isinstance(stmt, ast.Expr) and stmt.value is call:
            if not edits.stands_alone(src, stmt):
                return None
            indent = src.line_indent(stmt.lineno - 1)
            content = f"{r}.train(){edits.newline(src)}{indent}{forward}"
            return Fix(f"Replace with `{r}.train()` and `{forward}`", (Edit(src.span(call), content),), "unsafe")
        before = edits.insert_line_before(src, stmt, f"{r}.train()")
        if before is None:
            return None
        return Fix(f"Call `{r}.train()` first, then `{forward}`", (before, Edit(src.span(call), forward)), "unsafe")
