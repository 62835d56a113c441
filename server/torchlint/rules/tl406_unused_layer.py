from __future__ import annotations

import ast

from ..analysis.facts import Facts
from ..analysis.findings import Severity
from ..analysis.resolve import SemanticModel, subtree
from ..analysis.torchapi import ACTIVATION_MODULES, MODULE_METHOD_NAMES, Kind
from . import register
from .base import Rule

# Ways a class reaches its submodules without naming them: every layer may be used then.
_REFLECTION = {"getattr", "setattr", "vars", "__dict__", "_modules", "state_dict", "named_parameters", "parameters"}


def _self_attr(t: ast.AST) -> str | None:
    if isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name) and t.value.id == "self":
        return t.attr
    return None


@register
class UnusedLayer(Rule):
    """## What it does
    Checks for submodules an `nn.Module` subclass builds in `__init__` (`self.fc = nn.Linear(...)`,
    `self.block = Block(...)`) that nothing in the class ever reads: not `forward`, not any
    other method.

    ## Why is this bad?
    The layer's parameters are registered: they are counted, saved, moved to the GPU and
    handed to the optimizer, but they never take part in the output, so they never get a
    gradient. Usually a line of `forward` is missing (a dropout or normalisation that was
    meant to be applied, a head that was never called), and the model is not the one the
    author thinks it is.

    The rule stays silent when it cannot see every use: a class without `forward` of its own,
    a class subclassed in the analysed files (the subclass's `forward` may use the layer),
    layers named anywhere else in the class or the file (`model.encoder(x)` from a training
    script, other methods, strings for `getattr`), and classes that reach their layers
    without naming them (`self.children()`, `self.modules()`, `getattr`, `self._modules`,
    `vars(self)`). An unused `nn.Softmax` / `nn.LogSoftmax` / `nn.Sigmoid` is not reported
    either: the loss usually applies it (`CrossEntropyLoss`, `BCEWithLogitsLoss`), which is
    what TL301 and TL303 ask for.

    ## Example
    ```python
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(784, 128)
            self.dropout = nn.Dropout(0.5)
            self.fc2 = nn.Linear(128, 10)

        def forward(self, x):
            return self.fc2(F.relu(self.fc1(x)))
    ```

    ## Use instead
    ```python
        def forward(self, x):
            return self.fc2(self.dropout(F.relu(self.fc1(x))))
    ```

    ## Fix safety
    No fix: whether the layer belongs in `forward` (and where) or should be deleted is the
    author's decision.

    ## References
    - [torch.nn.Module](https://pytorch.org/docs/stable/generated/torch.nn.Module.html)
    - [Find unused parameters (DistributedDataParallel)](https://pytorch.org/docs/stable/generated/torch.nn.parallel.DistributedDataParallel.html)
    """

    code = "TL406"
    name = "unused-layer"
    severity = Severity.INFORMATION
    whole_file = True  # a layer counts as used when its name is read anywhere in the file

    def check(self, ctx):
        model = ctx.model
        for cls in model.nodes_of(ast.ClassDef):
            if not any(
                isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef)) and s.name == "forward" for s in cls.body
            ):
                continue
            init = next((s for s in cls.body if isinstance(s, ast.FunctionDef) and s.name == "__init__"), None)
            if init is None or not model.is_module_class(cls):
                continue
            built = self._built_layers(model, init)
            if not built or _reflective(cls):
                continue
            own = _names_read(cls, own=True)
            unused = {name: v for name, v in built.items() if name not in own}
            if unused:  # read elsewhere in the file (the whole file is read only when it matters)
                unused = {name: v for name, v in unused.items() if name not in _file_names_read(model)}
            if not unused or _subclassed(ctx, cls):
                continue
            unused = {n: v for n, v in unused.items() if not _named_elsewhere(ctx, cls, n)}
            for name, (target, value) in unused.items():
                shown = ctx.source.segment(value.func) if isinstance(value, ast.Call) else "a module"
                msg = f"`self.{name}` (`{shown}`) is built in `__init__` but never used: `forward` may be missing a step; call it there or remove it"
                yield ctx.finding(
                    self,
                    target,
                    msg,
                    related=[ctx.related(model, _forward(cls), f"`{cls.name}.forward` does not use it")],
                )

    @staticmethod
    def _built_layers(model, init: ast.FunctionDef) -> dict[str, tuple[ast.AST, ast.AST]]:
        """`self.x = <module constructor>` statements of `__init__` (first of each name)."""
        out: dict[str, tuple[ast.AST, ast.AST]] = {}
        for node in subtree(init):
            if (
                not isinstance(node, (ast.Assign, ast.AnnAssign))
                or node.value is None
                or not isinstance(node.value, ast.Call)
            ):
                continue
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            attr = _self_attr(targets[0]) if len(targets) == 1 else None
            if attr is None:
                continue
            info = model.kind(node.value)
            if info is None or info.kind != Kind.MODULE or info.qualname in ACTIVATION_MODULES:
                continue  # an unused Softmax/Sigmoid: the loss applies it (what TL301/TL303 ask for)
            out.setdefault(attr, (targets[0], node.value))
        return out


def _forward(cls: ast.ClassDef) -> ast.AST:
    return next(s for s in cls.body if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef)) and s.name == "forward")


def _reaches_layers_unnamed(cls: ast.AST) -> bool:
    """The class reaches its layers without naming them."""
    for n in subtree(cls):
        if isinstance(n, ast.Name) and n.id in _REFLECTION:
            return True
        if (
            isinstance(n, ast.Attribute)
            and (n.attr in _REFLECTION or n.attr in MODULE_METHOD_NAMES)
            and isinstance(n.value, ast.Name)
            and n.value.id == "self"
        ):
            return True
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id in ("getattr", "vars", "dir"):
            return True
        if (
            isinstance(n, ast.Call)
            and isinstance(n.func, ast.Attribute)
            and n.func.attr in ("children", "named_children", "modules", "named_modules")
        ):
            return True
    return False


# once per class node (a whole-file rule: asked again on every edit of the file)
_reflective: Facts[ast.AST, bool] = Facts(_reaches_layers_unnamed)


def _names_read(tree: ast.AST, own: bool) -> frozenset[str]:
    """Attribute names read in `tree` (`own`: also `self.x`, which elsewhere is another
    class's attribute) and the words of its strings (`getattr(self, "fc")`, config keys).
    Kept per node: the editor's re-parse keeps the nodes of the statements an edit left
    alone, so after an edit only the edited statements are walked again."""
    if isinstance(tree, ast.Module):  # the union of its statements'
        return frozenset().union(*(_names_read(s, own) for s in tree.body))
    return _reads_own(tree) if own else _reads(tree)


def _walk_names_read(tree: ast.AST, own: bool) -> frozenset[str]:
    out: set[str] = set()
    for n in ast.walk(tree):
        if isinstance(n, ast.Attribute) and not isinstance(n.ctx, ast.Store):
            if own or not (isinstance(n.value, ast.Name) and n.value.id == "self"):
                out.add(n.attr)
        elif isinstance(n, ast.Constant) and isinstance(n.value, str):
            out.add(n.value)
            out.update(n.value.replace(".", " ").split())
    return frozenset(out)


_reads_own: Facts[ast.AST, frozenset[str]] = Facts(lambda tree: _walk_names_read(tree, True))
_reads: Facts[ast.AST, frozenset[str]] = Facts(lambda tree: _walk_names_read(tree, False))
# `_names_read` of a whole file, once per model (many classes ask)
_file_names_read: Facts[SemanticModel, frozenset[str]] = Facts(lambda model: _names_read(model.tree, own=False))


def _named_elsewhere(ctx, cls: ast.ClassDef, name: str) -> bool:
    """Another analysed file that imports the class reads `.name` (`model.encoder(x)`)."""
    workspace = ctx.model.workspace
    if workspace is None:
        return False
    for other in workspace.importer_models(ctx.model, cls.name):
        if name in _file_names_read(other):
            return True
    return False


def _subclassed(ctx, cls: ast.ClassDef) -> bool:
    """A class of this file, or of a file that imports this one, derives from `cls`."""
    models = [ctx.model]
    if ctx.model.workspace is not None:
        models += ctx.model.workspace.importer_models(ctx.model, cls.name)
    for m in models:
        for other in m.nodes_of(ast.ClassDef):
            if other is cls:
                continue
            for base in other.bases:
                info = m.resolve_class(base)
                if info is not None and info.node is cls:
                    return True
                if info is None and getattr(base, "id", getattr(base, "attr", None)) == cls.name:
                    return True  # unresolved but same name: assume it is this class
    return False
