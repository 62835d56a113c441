from __future__ import annotations

import ast
import itertools
from dataclasses import dataclass

from ..analysis.edits import add_keyword
from ..analysis.findings import Edit, Fix, Severity
from ..analysis.resolve import dotted
from ..analysis.torchapi import BATCH_NORM_LAYERS, BIAS_POSITION
from . import register
from ._helpers import reaching_binding
from .base import Rule


@dataclass
class _Pair:
    layer: ast.Call  # the Conv/Linear constructor
    name: str  # "Conv2d"
    norm: ast.AST  # the BatchNorm constructor or the call that applies it
    norm_name: str


def _layer(model, call: ast.AST, table) -> str | None:
    """The `torch.nn` class a constructor call builds, when it is in `table`."""
    if not isinstance(call, ast.Call):
        return None
    q = model.call_qualname(call)
    if q is None or not q.startswith("torch.nn.") or q.count(".") != 2:
        return None
    last = q.rsplit(".", 1)[-1]
    return last if last in table else None


def _bias_arg(call: ast.Call, name: str) -> ast.AST | None:
    for k in call.keywords:
        if k.arg == "bias":
            return k.value
    pos = BIAS_POSITION[name]
    return call.args[pos] if len(call.args) > pos else None


def _has_bias(call: ast.Call, name: str) -> bool:
    """The layer certainly has a bias: `bias` absent (default True) or the constant True."""
    if any(k.arg is None for k in call.keywords) or any(isinstance(a, ast.Starred) for a in call.args):
        return False  # **kwargs / *args may set it
    arg = _bias_arg(call, name)
    return arg is None or (isinstance(arg, ast.Constant) and arg.value is True)


def _ctor(model, func: ast.AST) -> ast.Call | None:
    """The one constructor call a module name (`self.conv`, `conv`) was built by."""
    info = model.kind(func)
    if info is None or info.model is not model or not isinstance(info.node, ast.Call):
        return None
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id == "self":
        cls = model.enclosing_class(func)
        if cls is None or len(model.attr_values(cls, func.attr)) != 1:
            return None
    elif isinstance(func, ast.Name):
        if len(model.assigned_values(model.scope_of(func), func.id)) != 1:
            return None
    else:
        return None
    return info.node


@register
class BiasBeforeBatchNorm(Rule):
    """## What it does
    Checks for `Conv*` / `Linear` layers with a bias (the default, `bias=True`) whose output
    goes straight into a `BatchNorm*`: adjacent in an `nn.Sequential` (or a list unpacked into
    one), or in `forward` (`self.bn(self.conv(x))`, `x = self.conv(x); x = self.bn(x)`).

    ## Why is this bad?
    Batch norm subtracts each channel's mean over the batch, so a constant per-channel bias
    added just before it is removed again: the bias parameters get zero gradient, never
    learn anything, and only cost memory and compute. (`affine=False` does not change
    this: the mean is still subtracted. BatchNorm's own `beta` plays the bias's role.)

    A layer whose output is also used elsewhere (a skip connection from the conv itself) is not
    reported, since the bias matters on that other path.

    ## Example
    ```python
    self.features = nn.Sequential(
        nn.Conv2d(3, 64, kernel_size=3, padding=1),
        nn.BatchNorm2d(64),
        nn.ReLU(),
    )
    ```

    ## Use instead
    ```python
    self.features = nn.Sequential(
        nn.Conv2d(3, 64, kernel_size=3, padding=1, bias=False),
        nn.BatchNorm2d(64),
        nn.ReLU(),
    )
    ```

    ## Fix safety
    Safe: the model computes the same function. Unsafe when the file also reads a `.bias`
    without checking it for `None` (an init helper's `m.bias.data.zero_()` would then fail) or
    loads saved weights (`load_state_dict`, `torch.load`): checkpoints saved before the change
    hold a `bias` entry for the layer, which a strict `load_state_dict` refuses (load them with
    `strict=False`, or drop the key).

    ## References
    - [torch.nn.BatchNorm2d](https://pytorch.org/docs/stable/generated/torch.nn.BatchNorm2d.html)
    - [torch.nn.Conv2d](https://pytorch.org/docs/stable/generated/torch.nn.Conv2d.html)
    - [Performance tuning guide: disable bias for convolutions directly followed by a batch norm](https://pytorch.org/tutorials/recipes/recipes/tuning_guide.html#disable-bias-for-convolutions-directly-followed-by-a-batch-norm)
    """

    code = "TL407"
    name = "bias-before-batchnorm"
    severity = Severity.INFORMATION
    fix = "safe"
    whole_file = True  # the fix's safety rests on every `.bias` read and weight load in the file

    def check(self, ctx):
        if "BatchNorm" not in ctx.source.text:
            return  # every layer it pairs is named so (a cheap test first: it runs on every edit)
        model = ctx.model
        seen: set[int] = set()
        pairs = []
        for pair in [*self._sequential_pairs(model), *self._forward_pairs(model)]:
            if id(pair.layer) not in seen and _has_bias(pair.layer, pair.name):
                seen.add(id(pair.layer))
                pairs.append(pair)
        if not pairs:
            return
        kept_by = _bias_kept(model)  # what in the file counts on the bias: looked for once
        for pair in pairs:
            msg = f"`{pair.name}` has a bias that the following `{pair.norm_name}` cancels (it subtracts the batch mean): pass `bias=False`"
            related = [ctx.related(model, pair.norm, f"`{pair.norm_name}` applied to its output")]
            yield ctx.finding(self, pair.layer.func, msg, self._fix(ctx, pair, kept_by), related)

    @staticmethod
    def _fix(ctx, pair: _Pair, kept_by: str | None) -> Fix | None:
        arg = _bias_arg(pair.layer, pair.name)
        edit = add_keyword(ctx.source, pair.layer, "bias=False") if arg is None else Edit(ctx.source.span(arg), "False")
        if not edit:
            return None
        if kept_by is not None:
            return Fix(f"Pass `bias=False` (check {kept_by})", (edit,), "unsafe")
        return Fix("Pass `bias=False`", (edit,), "safe")

    # -- nn.Sequential(conv, bn) and [conv, bn] unpacked into one ----------------------------
    def _sequential_pairs(self, model):
        for call in model.nodes_of(ast.Call):
            if model.call_qualname(call) != "torch.nn.Sequential":
                continue
            if (
                len(call.args) == 1
                and isinstance(call.args[0], ast.Starred)
                and isinstance(call.args[0].value, ast.Name)
            ):
                for elts in _lists_unpacked(model, call, call.args[0].value.id):
                    yield from _adjacent(model, elts)
            elif not call.keywords:
                yield from _adjacent(model, call.args)

    # -- forward: bn(conv(x)), x = conv(x); x = bn(x) ----------------------------------------
    def _forward_pairs(self, model):
        found: list[tuple[_Pair, str]] = []
        for call in model.nodes_of(ast.Call):
            if not call.args or call.keywords or len(call.args) != 1:
                continue
            norm_ctor = _ctor(model, call.func)
            norm_name = _layer(model, norm_ctor, BATCH_NORM_LAYERS) if norm_ctor is not None else None
            if norm_name is None:
                continue
            inner = _producer(model, call.args[0])
            if inner is None or not isinstance(inner.func, (ast.Name, ast.Attribute)):
                continue
            layer = _ctor(model, inner.func)
            name = _layer(model, layer, BIAS_POSITION) if layer is not None else None
            if name is not None:
                found.append((_Pair(layer, name, call, norm_name), dotted(inner.func) or ""))
        for pair, func in found:
            # every call of the layer must feed a batch norm: elsewhere its bias matters
            scope = model.enclosing_class(pair.norm) or model.scope_of(pair.norm)
            calls = [c for c in ast.walk(scope) if isinstance(c, ast.Call) and dotted(c.func) == func]
            feeding = [p for p, f in found if f == func and p.layer is pair.layer]
            if func and len(calls) == len(feeding):
                yield pair


def _producer(model, arg: ast.AST) -> ast.Call | None:
    """The call whose output `arg` is: itself, or the value of the one binding of a name
    that reaches it and is used nowhere else."""
    if isinstance(arg, ast.Call):
        return arg
    if not isinstance(arg, ast.Name):
        return None
    b = reaching_binding(model, arg)
    if b is None or not isinstance(b.value, ast.Call) or not isinstance(b.stmt, ast.Assign) or len(b.stmt.targets) != 1:
        return None
    scope = model.scope_of(arg)
    loops = [a for a in model.ancestors(b.stmt) if isinstance(a, (ast.For, ast.AsyncFor, ast.While))]
    after = (b.stmt.end_lineno or b.stmt.lineno, b.stmt.end_col_offset or 0)
    for n in ast.walk(scope):
        if not (isinstance(n, ast.Name) and n.id == arg.id and isinstance(n.ctx, ast.Load)) or n is arg:
            continue
        if (n.lineno, n.col_offset) < after and not any(l in loops for l in model.ancestors(n)):
            continue  # runs before the binding: cannot see it
        rb = reaching_binding(model, n)
        if rb is None or rb.stmt is b.stmt:
            return None  # the layer's output is (maybe) used elsewhere too: a skip connection
    return b.value


def _adjacent(model, elts):
    for a, b in itertools.pairwise(elts):
        name = _layer(model, a, BIAS_POSITION)
        norm = _layer(model, b, BATCH_NORM_LAYERS)
        if name and norm:
            yield _Pair(a, name, b, norm)


def _lists_unpacked(model, seq: ast.Call, name: str):
    """Element lists of the list literals that build `name` before `nn.Sequential(*name)`:
    `layers = [...]`, `layers += [...]`, `layers.extend([...])` in the same scope."""
    scope = model.scope_of(seq)
    for node in ast.walk(scope):
        value = None
        if (
            isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == name for t in node.targets)
            or isinstance(node, ast.AugAssign)
            and isinstance(node.target, ast.Name)
            and node.target.id == name
        ):
            value = node.value
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "extend"
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id == name
            and node.args
        ):
            value = node.args[0]
        if isinstance(value, (ast.List, ast.Tuple)):
            yield value.elts


_LOADS_WEIGHTS = {"load_state_dict", "load_from_checkpoint", "load"}


def _bias_kept(model) -> str | None:
    """What in the file counts on the layers keeping their bias: a `.bias` read without a
    `None` check (`m.bias.data.zero_()`, `init.constant_(m.bias, 0)`), or saved weights loaded."""
    for node in model.nodes_of(ast.Attribute):
        if node.attr == "bias" and isinstance(node.ctx, ast.Load) and not _none_checked(model, node):
            return f"`{dotted(node) or 'bias'}`, which fails on a layer without bias"
    for call in model.nodes_of(ast.Call):
        f = call.func
        name = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else None
        if name in _LOADS_WEIGHTS and (name != "load" or model.call_qualname(call) == "torch.load"):
            return f"`{dotted(f) or name}`: saved weights hold the bias"
    return None


def _none_checked(model, node: ast.Attribute) -> bool:
    """`m.bias is not None` itself, or a read under `if m.bias is not None:` / `if hasattr(m, "bias")`
    / `if m.bias:` (any test that names the bias)."""
    parent = model.parent(node)
    if isinstance(parent, ast.Compare) or (isinstance(parent, ast.UnaryOp) and isinstance(parent.op, ast.Not)):
        return True
    for a in model.ancestors(node):
        test = getattr(a, "test", None) if isinstance(a, (ast.If, ast.IfExp, ast.While)) else None
        if test is not None and any(
            (isinstance(n, ast.Attribute) and n.attr == "bias") or (isinstance(n, ast.Constant) and n.value == "bias")
            for n in ast.walk(test)
        ):
            return True
        if isinstance(a, ast.BoolOp) and any(
            isinstance(n, ast.Attribute) and n.attr == "bias" and n is not node for v in a.values for n in ast.walk(v)
        ):
            return True  # `m.bias is not None and m.bias.data.zero_()`
    return False
