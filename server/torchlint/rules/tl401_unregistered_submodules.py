from __future__ import annotations

import ast
import re
from typing import cast

from ..analysis.findings import Edit, Fix, Severity
from ..analysis.resolve import SemanticModel, subtree, walk_scope
from ..analysis.torchapi import Kind
from . import register
from ._helpers import nn_alias, reaching_binding
from .base import Rule


def _value(stmt: ast.stmt) -> ast.expr:
    """What `self.x = value` assigns (the statements judged: an annotation alone is never judged)."""
    return cast(ast.Assign, stmt).value


# Modules without parameters, buffers or train/eval behaviour: harmless in a plain list.
_STATELESS = re.compile(
    r"^torch\.nn\.(ReLU6?|LeakyReLU|Tanh|Sigmoid|GELU|SiLU|Mish|ELU|SELU|CELU|Softplus|Softsign|Hardtanh|Hardswish|"
    r"Hardsigmoid|Tanhshrink|Softmax|LogSoftmax|Softmin|Identity|Flatten|Unflatten|(Adaptive)?(Max|Avg)Pool[123]d|"
    r"Upsample\w*|PixelShuffle|PixelUnshuffle|(Zero|Constant|Reflection|Replication)Pad[123]d|ChannelShuffle)$"
)
_HARMLESS_CALLS = {
    "len",
    "enumerate",
    "zip",
    "reversed",
    "range",
    "iter",
    "list",
    "tuple",
    "sorted",
    "print",
    "isinstance",
    "repr",
    "str",
    "next",
    "map",
}
_REGISTERING = {"add_module", "register_module", "register_parameter", "register_buffer", "__setattr__"}


def _self_attr(node: ast.AST) -> str | None:
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "self":
        return node.attr
    return None


class _Elem:
    MODULE, PARAM, OTHER = "module", "param", "other"


def _classify(model: SemanticModel, e: ast.AST, depth: int = 0) -> tuple[str, str | None]:
    """(module|param|other, qualname of the module class when known)."""
    if isinstance(e, ast.Call):
        q = model.call_qualname(e)
        if q == "torch.nn.Parameter":
            return _Elem.PARAM, None
        info = model.kind(e)
        if info is not None and info.kind == Kind.MODULE:
            return _Elem.MODULE, info.qualname or "<local>"
        return _Elem.OTHER, None
    if isinstance(e, ast.Name) and depth < 3:
        b = reaching_binding(model, e)
        if b is None or not isinstance(b.value, ast.Call):
            return _Elem.OTHER, None
        # the same object kept elsewhere (e.g. also `self.head = layer`) may be registered there
        scope = model.scope_of(e)
        for n in walk_scope(scope):
            if (
                isinstance(n, ast.Assign)
                and isinstance(n.value, ast.Name)
                and n.value.id == e.id
                and any(not isinstance(t, ast.Name) for t in n.targets)
            ):
                return _Elem.OTHER, None
        return _classify(model, b.value, depth + 1)
    return _Elem.OTHER, None


def _container_elements(model: SemanticModel, value: ast.AST, scope_node: ast.AST) -> tuple[str, list[ast.AST]] | None:
    """('list'|'dict', element expressions) for a plain container value, else None."""
    if isinstance(value, (ast.List, ast.Tuple)):
        if any(isinstance(e, ast.Starred) for e in value.elts):
            return None
        return "list", list(value.elts)
    if isinstance(value, ast.ListComp):
        return "list", [value.elt]
    if isinstance(value, ast.Dict):
        if any(k is None for k in value.keys):
            return None
        return "dict", list(value.values)
    if isinstance(value, ast.DictComp):
        return "dict", [value.value]
    if isinstance(value, ast.Name):
        b = reaching_binding(model, value)
        if b is None or not isinstance(b.value, (ast.List, ast.ListComp, ast.Dict, ast.Tuple)):
            return None
        found = _container_elements(model, b.value, scope_node)
        if found is None:
            return None
        kind, elems = found
        # items added to the local container in the same function
        for n in walk_scope(model.scope_of(value)):
            if (
                isinstance(n, ast.Call)
                and isinstance(n.func, ast.Attribute)
                and isinstance(n.func.value, ast.Name)
                and n.func.value.id == value.id
            ):
                if n.func.attr in ("append", "insert") and n.args:
                    elems.append(n.args[-1])
                elif n.func.attr in ("extend", "update"):
                    if n.args and isinstance(n.args[0], (ast.List, ast.Tuple)):
                        elems.extend(n.args[0].elts)
                    else:
                        return None
            elif isinstance(n, ast.Assign) and any(
                isinstance(t, ast.Subscript) and isinstance(t.value, ast.Name) and t.value.id == value.id
                for t in n.targets
            ):
                elems.append(n.value)
            elif isinstance(n, ast.AugAssign) and isinstance(n.target, ast.Name) and n.target.id == value.id:
                return None
            elif isinstance(n, ast.Name) and n.id == value.id and isinstance(n.ctx, ast.Load):
                parent = model.parent(n)
                if (
                    isinstance(parent, ast.Call)
                    and n in parent.args
                    and not (isinstance(parent.func, ast.Name) and parent.func.id in _HARMLESS_CALLS)
                ):
                    return None  # handed to something that may register it
                if isinstance(parent, ast.Starred):
                    return None
        return kind, elems
    return None


@register
class UnregisteredSubmodules(Rule):
    """## What it does
    Checks for `nn.Module` subclasses that keep freshly built submodules (or `nn.Parameter`s)
    in a plain Python `list`, `tuple` or `dict` attribute.

    ## Why is this bad?
    `nn.Module` only registers modules and parameters assigned directly as attributes or held
    in `nn.ModuleList` / `nn.ModuleDict` / `nn.ParameterList` / `nn.ParameterDict`. Layers in a
    plain list are invisible to `model.parameters()` (the optimizer never updates them), to
    `model.to(device)` (they stay on the CPU), to `model.eval()` (their Dropout/BatchNorm stay
    in training mode) and to `state_dict()` (they are not saved). Nothing fails: the layers keep
    their random initial weights.

    Not reported: lists that only hold parameter-free layers (`nn.ReLU()`...), lists of modules
    that are also registered some other way (`self.a = ...; self.blocks = [self.a]`, or handed
    to `nn.Sequential(*self.blocks)`, `add_module`...), and lists in classes that are not modules.

    ## Example
    ```python
    class MLP(nn.Module):
        def __init__(self, sizes):
            super().__init__()
            self.layers = [nn.Linear(a, b) for a, b in zip(sizes, sizes[1:])]
    ```

    ## Use instead
    ```python
    class MLP(nn.Module):
        def __init__(self, sizes):
            super().__init__()
            self.layers = nn.ModuleList([nn.Linear(a, b) for a, b in zip(sizes, sizes[1:])])
    ```

    ## Fix safety
    Safe: `nn.ModuleList` / `nn.ModuleDict` support indexing, iteration, `len`, `append`,
    `extend` and `insert` like the list or dict they replace. (Checkpoints saved before the fix
    lack the newly registered weights: `load_state_dict` of an old checkpoint needs `strict=False`.)

    ## References
    - [torch.nn.ModuleList](https://pytorch.org/docs/stable/generated/torch.nn.ModuleList.html)
    - [torch.nn.ModuleDict](https://pytorch.org/docs/stable/generated/torch.nn.ModuleDict.html)
    - [torch.nn.ParameterList](https://pytorch.org/docs/stable/generated/torch.nn.ParameterList.html)
    """

    code = "TL401"
    name = "unregistered-submodules"
    severity = Severity.ERROR
    fix = "safe"

    def check(self, ctx):
        model = ctx.model
        for cls in model.nodes_of(ast.ClassDef):
            if isinstance(cls, ast.ClassDef) and model.is_module_class(cls):
                yield from self._check_class(ctx, cls)

    def _check_class(self, ctx, cls: ast.ClassDef):
        model = ctx.model
        assigns: dict[str, list[ast.stmt]] = {}
        added: dict[str, list[ast.AST]] = {}
        escaped: set[str] = set()
        for n in subtree(cls):
            if isinstance(n, (ast.Assign, ast.AnnAssign)):
                targets = n.targets if isinstance(n, ast.Assign) else [n.target]
                for t in targets:
                    attr = _self_attr(t)
                    if attr is not None:
                        assigns.setdefault(attr, []).append(n)
                    elif isinstance(t, ast.Subscript) and _self_attr(t.value):
                        added.setdefault(_self_attr(t.value), []).append(n.value)  # type: ignore[arg-type]
                    elif isinstance(t, (ast.Tuple, ast.List)):
                        for e in ast.walk(t):
                            if _self_attr(e):
                                escaped.add(_self_attr(e))  # type: ignore[arg-type]
            elif isinstance(n, ast.AugAssign) and _self_attr(n.target):
                escaped.add(_self_attr(n.target))  # type: ignore[arg-type]
            elif isinstance(n, ast.Call):
                f = n.func
                if isinstance(f, ast.Attribute) and f.attr in _REGISTERING:
                    return  # registers things by name: cannot tell which
                if isinstance(f, ast.Name) and f.id == "setattr":
                    return
                if isinstance(f, ast.Attribute) and _self_attr(f.value):
                    owner = _self_attr(f.value)
                    if f.attr in ("append", "insert") and n.args:
                        added.setdefault(owner, []).append(n.args[-1])  # type: ignore[arg-type]
                    elif f.attr in ("extend", "update", "__setitem__"):
                        if n.args and isinstance(n.args[0], (ast.List, ast.Tuple)) and f.attr == "extend":
                            added.setdefault(owner, []).extend(n.args[0].elts)  # type: ignore[arg-type]
                        else:
                            escaped.add(owner)  # type: ignore[arg-type]
                harmless = isinstance(f, ast.Name) and f.id in _HARMLESS_CALLS
                for a in [*n.args, *(k.value for k in n.keywords)]:
                    inner = a.value if isinstance(a, ast.Starred) else a
                    if _self_attr(inner) and (not harmless or isinstance(a, ast.Starred)):
                        escaped.add(_self_attr(inner))  # type: ignore[arg-type]
        for attr, stmts in assigns.items():
            if attr in escaped:
                continue
            found = self._judge(model, stmts, added.get(attr, []))
            if found is None:
                continue
            container, wrapper = found
            alias = nn_alias(model)
            fix = None
            if alias is not None:
                es: list[Edit] = []
                for s in stmts:
                    edit = self._wrap_edit(ctx, _value(s), f"{alias}.{wrapper}")
                    if edit is None:
                        es = []
                        break
                    es.append(edit)
                if es:
                    fix = Fix(f"Wrap `self.{attr}` in `{alias}.{wrapper}`", tuple(es), "safe")
            what = "parameters" if wrapper.startswith("Parameter") else "modules"
            msg = (
                f"`self.{attr}` keeps {what} in a plain {container}: they are not registered with the module "
                f"(not in `parameters()`, so not trained; not moved by `.to()`; not saved in `state_dict()`); "
                f"use `nn.{wrapper}`"
            )
            yield ctx.finding(self, stmts[0], msg, fix)

    @staticmethod
    def _judge(model: SemanticModel, stmts: list[ast.stmt], added: list[ast.AST]) -> tuple[str, str] | None:
        kinds = set()
        elems: list[ast.AST] = list(added)
        for s in stmts:
            v = s.value  # type: ignore[attr-defined]
            if (
                isinstance(v, (ast.List, ast.Tuple))
                and len(v.elts) == 1
                and isinstance(v.elts[0], (ast.Name, ast.Attribute))
            ):
                return None  # `self.teacher = [teacher]`: the usual way to hide a module on purpose
            found = _container_elements(model, v, s)
            if found is None:
                return None
            kinds.add(found[0])
            elems.extend(found[1])
        if len(kinds) != 1 or not elems:
            return None
        classes = [_classify(model, e) for e in elems]
        cats = {c for c, _ in classes}
        if cats == {_Elem.MODULE}:
            if all(q and q != "<local>" and _STATELESS.match(q) for _, q in classes):
                return None
            container = (
                "dict"
                if "dict" in kinds
                else ("tuple" if all(isinstance(_value(s), ast.Tuple) for s in stmts) else "list")
            )
            return container, ("ModuleDict" if "dict" in kinds else "ModuleList")
        if cats == {_Elem.PARAM}:
            container = "dict" if "dict" in kinds else "list"
            return container, ("ParameterDict" if "dict" in kinds else "ParameterList")
        return None

    @staticmethod
    def _wrap_edit(ctx, value: ast.AST, wrapper: str) -> Edit | None:
        src = ctx.source
        text = src.segment(value)
        if isinstance(value, ast.Dict):
            for k in value.keys:
                if not (isinstance(k, ast.Constant) and isinstance(k.value, str) and "." not in k.value and k.value):
                    return None
        if isinstance(value, (ast.List, ast.Dict, ast.Tuple)) and not (
            value.keys if isinstance(value, ast.Dict) else value.elts
        ):
            return Edit(src.span(value), f"{wrapper}()")
        if isinstance(value, ast.DictComp):
            return None  # keys must be strings: cannot tell
        if isinstance(value, ast.Tuple):
            parenthesized = not value.elts or (value.col_offset, value.lineno) != (
                value.elts[0].col_offset,
                value.elts[0].lineno,
            )
            if not parenthesized:
                text = f"({text})"
        return Edit(src.span(value), f"{wrapper}({text})")
