""" "What is this name?": the semantic model of one file.

Answers come from the AST and the import table first (fast, exact), then from
other workspace files through the `Workspace`, and only then from Jedi, for
names whose definition the AST cannot reach (see DESIGN.md for Jedi's costs).
Every question returns None when the answer is not known: rules stay silent then.
"""

from __future__ import annotations

import ast
import sys
from ast import AST
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, cast

from .facts import Facts
from .source import SourceFile
from .torchapi import (
    CONTAINERS,
    DATASET_BASES,
    DROPOUT_BY_DEFAULT,
    DROPOUT_IF_ASKED,
    ITERABLE_DATASET_BASES,
    LOADER_WRAPPERS,
    MODE_DEPENDENT_FUNCTIONS,
    MODE_DEPENDENT_LAYERS,
    MODULE_BASES,
    MODULE_PASS_THROUGH_METHODS,
    NAMED_LIBRARIES,
    RUNNING_STATS_IF_ASKED,
    TENSOR_FUNCTIONS,
    TENSOR_METHODS,
    Kind,
    canonical,
    constructor_kind,
    is_functional_loss,
)

if TYPE_CHECKING:
    from .workspace import Workspace

FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef
Scope = FunctionNode | ast.Module | ast.Lambda

# Their classes are known by name (torchapi); never ask Jedi about them.
_MODULE_FACTORY_METHODS = {"from_pretrained", "from_name", "from_config", "load_from_checkpoint"}


@dataclass
class ClassInfo:
    name: str
    node: ast.ClassDef
    model: SemanticModel
    base_qualnames: list[str] = field(default_factory=list)


@dataclass
class FunctionRef:
    """A resolved callee: the function node and the semantic model of its file."""

    node: FunctionNode
    model: SemanticModel
    cls: ast.ClassDef | None = None  # set for methods

    @property
    def key(self) -> tuple[str, int]:
        return (self.model.source.path, self.node.lineno)


@dataclass(frozen=True)
class KindInfo:
    kind: Kind
    qualname: str | None = None  # constructor's canonical name, e.g. torch.nn.CrossEntropyLoss
    node: ast.AST | None = None  # where it was built
    cls: ClassInfo | None = None
    model: SemanticModel | None = field(
        default=None, compare=False
    )  # the file `node` is in (a factory may be elsewhere)


def dotted(expr: ast.AST | None) -> str | None:
    """`a.b.c` for Name/Attribute chains, else None."""
    parts = []
    while isinstance(expr, ast.Attribute):
        parts.append(expr.attr)
        expr = expr.value
    if isinstance(expr, ast.Name):
        parts.append(expr.id)
        return ".".join(reversed(parts))
    return None


def last_name(expr: ast.AST) -> str | None:
    if isinstance(expr, ast.Name):
        return expr.id
    if isinstance(expr, ast.Attribute):
        return expr.attr
    return None


class SemanticModel:
    def __init__(self, source: SourceFile, workspace: Workspace | None = None, module_name: str | None = None):
        self.source = source
        self.tree = source.tree
        self.workspace = workspace
        self.module_name = module_name
        self.parents: dict[ast.AST, ast.AST] = {}
        self.imports: dict[str, str] = {}  # local name -> qualified name ("torch.nn")
        self.import_nodes: dict[str, ast.AST] = {}
        self.classes: dict[str, ast.ClassDef] = {}
        self._redefined: dict[str, list[ast.stmt]] = {}  # top-level classes and functions defined twice or more
        self.functions: dict[str, FunctionNode] = {}
        self._scope_assignments: dict[int, dict[str, list[ast.AST]]] = {}
        self._stmt_calls: dict[ast.AST, list[ast.Call]] | None = None
        self._calls_by_name: dict[str | None, list[ast.Call]] | None = None
        self._attr_index: dict[int, dict[str, list[ast.AST]]] = {}
        self._kind_cache: dict[int, KindInfo | None] = {}
        self._function_of: dict[ast.AST, FunctionNode | None] = {}  # enclosing_function, by node
        self._param_kinds: dict[tuple[int, str], KindInfo | None] = {}
        self._qualnames: dict[ast.AST, str | None] = {}  # rules and flow ask about the same callees
        # summaries of this file's functions made for other files' analyses (Workspace.keep_summary)
        self.kept_summaries: dict[int, tuple] = {}
        self._index()

    # -- indexing ------------------------------------------------------------
    def _index(self) -> None:
        self.scopes: list[FunctionNode | ast.Module] = [self.tree]
        self._nested: dict[int, dict[str, FunctionNode]] = {}
        self._nodes: list[ast.AST] | None = None
        by_type: dict[type, list[ast.AST]] = {ast.Module: [self.tree]}
        self._by_type = by_type
        # ast.walk's breadth-first order, merged from each top-level statement's own levels,
        # type by type (both cached per statement node: an edit re-indexes only the statements
        # it re-parsed, and the merge is a few list extensions per statement and depth)
        body = self.tree.body
        self._levels = [statement_index(self.source, stmt)[0] for stmt in body]
        tables = [statement_types(self.source, stmt) for stmt in body]
        for depth in range(max((len(levels) for levels in self._levels), default=0)):
            for levels, table in zip(self._levels, tables):
                if depth >= len(levels):
                    continue
                buckets = table[depth]
                for t, found in buckets.items():
                    bucket = by_type.get(t)
                    if bucket is None:
                        by_type[t] = list(found)  # a copy: the statement's own lists are kept
                    else:
                        bucket.extend(found)
                for node in _in_order(levels[depth], buckets, _SCOPE_TYPES):
                    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):  # (all of them)
                        self.scopes.append(node)
                for node in _in_order(levels[depth], buckets, _IMPORT_TYPES):
                    self._index_import(node)
        parents = self.parents
        for stmt in body:
            parents.update(statement_index(self.source, stmt)[1])
            parents[stmt] = self.tree
        for stmt in body:
            self._index_toplevel(stmt)

    @property
    def nodes(self) -> list[ast.AST]:
        """Every node of the file in `ast.walk` order (made when first asked)."""
        if self._nodes is None:
            nodes: list[ast.AST] = [self.tree]
            for depth in range(max((len(levels) for levels in self._levels), default=0)):
                for levels in self._levels:
                    if depth < len(levels):
                        nodes.extend(levels[depth])
            self._nodes = nodes
        return self._nodes

    def _index_import(self, node: ast.AST) -> None:
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    self.imports[alias.asname] = alias.name
                else:
                    top = alias.name.split(".")[0]
                    self.imports[top] = top
                self.import_nodes[alias.asname or alias.name.split(".")[0]] = node
        elif isinstance(node, ast.ImportFrom):
            base = self._absolute_module(node)
            for alias in node.names:
                if alias.name == "*":
                    continue
                self.imports[alias.asname or alias.name] = f"{base}.{alias.name}" if base else alias.name
                self.import_nodes[alias.asname or alias.name] = node

    def nodes_of(self, *types: type) -> list[ast.AST]:
        """Every node of these AST types in the file, in `ast.walk` order: one traversal shared by all rules."""
        if len(types) == 1:
            return self._by_type.get(types[0], [])
        return [n for n in self.nodes if isinstance(n, types)]

    def calls(self) -> list[ast.Call]:
        """Every call in the file, in `ast.walk` order."""
        return cast(list[ast.Call], self._by_type.get(ast.Call, []))  # bucketed by type

    def calls_named(self, name: str | None) -> list[ast.Call]:
        """Calls whose callee's last name is `name` (`f(...)`, `obj.f(...)`): one index per file."""
        if self._calls_by_name is None:
            index: dict[str | None, list[ast.Call]] = {}
            for call in self.calls():
                index.setdefault(last_name(call.func), []).append(call)
            self._calls_by_name = index
        return self._calls_by_name.get(name, [])

    def calls_in_statement(self, stmt: ast.AST) -> list[ast.Call]:
        """Calls a statement evaluates itself: not those of its nested blocks or of lambdas."""
        if self._stmt_calls is None:
            index: dict[ast.AST, list[ast.Call]] = {}
            for call in self.calls():
                node = self.parents.get(call)
                while node is not None and not isinstance(node, (ast.stmt, ast.Lambda)):
                    node = self.parents.get(node)
                if node is not None and not isinstance(node, ast.Lambda):
                    index.setdefault(node, []).append(call)
            self._stmt_calls = index
        return self._stmt_calls.get(stmt, [])

    def _index_toplevel(self, node: ast.stmt) -> None:
        if isinstance(node, ast.ClassDef):
            if node.name in self.classes:  # a notebook's later cell often redefines a class
                self._redefined.setdefault(node.name, [self.classes[node.name]]).append(node)
            self.classes[node.name] = node
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            if node.name in self.functions:  # a helper redefined in a later notebook cell
                self._redefined.setdefault(node.name, [self.functions[node.name]]).append(node)
            self.functions[node.name] = node
        elif isinstance(node, (ast.If, ast.Try)):
            # `if TYPE_CHECKING:` / `try: import ...` blocks still define names.
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.stmt):
                    self._index_toplevel(child)

    def _absolute_module(self, node: ast.ImportFrom) -> str:
        if not node.level:
            return node.module or ""
        pkg = (self.module_name or "").split(".")
        # a module `a.b.c` is in package `a.b`; `__init__` modules are their own package
        if not self.source.path.endswith("__init__.py"):
            pkg = pkg[:-1]
        pkg = pkg[: len(pkg) - (node.level - 1)] if node.level > 1 else pkg
        prefix = ".".join(p for p in pkg if p)
        if node.module:
            return f"{prefix}.{node.module}" if prefix else node.module
        return prefix

    # -- structure -----------------------------------------------------------
    def walk_scope(self, scope: ast.AST) -> list[ast.AST]:
        """`walk_scope(scope)` of a scope of this file, walked with the children its index
        recorded (a dict lookup per node instead of reading every field)."""
        return _walk_scope.known_or(scope, lambda: _scope_nodes(scope, self._children(scope)))

    def subtree(self, node: ast.AST) -> list[ast.AST]:
        """`subtree(node)` of a node of this file, walked as `walk_scope` is."""
        return [node, *_below.known_or(node, lambda: _descendants(node, self._children(node)))]

    def _children(self, node: ast.AST) -> Children:
        """How to list the children of `node` and of the nodes below it: from the index of
        its top-level statement, when it is in this file's tree."""
        if node is self.tree:  # the module: every statement's index, merged
            merged: dict[ast.AST, list[ast.AST]] = {self.tree: child_nodes(self.tree)}
            for stmt in self.tree.body:
                facts = self.source.facts.get(stmt)
                if facts is None or facts.children is None:
                    return child_nodes
                merged.update(facts.children)
            return lambda n: merged.get(n, ())
        top, up = node, self.parents.get(node)
        while up is not None and up is not self.tree:
            top, up = up, self.parents.get(up)
        facts = self.source.facts.get(top) if up is self.tree else None
        children = facts.children if facts is not None else None
        if children is None:
            return child_nodes
        return lambda n: children.get(n, ())

    def parent(self, node: ast.AST) -> ast.AST | None:
        return self.parents.get(node)

    def ancestors(self, node: ast.AST) -> Iterator[ast.AST]:
        a = self.parents.get(node)
        while a is not None:
            yield a
            a = self.parents.get(a)

    def enclosing_function(self, node: ast.AST) -> FunctionNode | None:
        # remembered for every node passed on the way up: each branch of an elif chain is one
        # level deeper, so walking to the function from every name in a long chain is quadratic
        memo = self._function_of
        path = []
        a = self.parents.get(node)
        found = None
        while a is not None:
            if isinstance(a, (ast.FunctionDef, ast.AsyncFunctionDef)):
                found = a
                break
            if a in memo:
                found = memo[a]
                break
            path.append(a)
            a = self.parents.get(a)
        for a in path:
            memo[a] = found
        return found

    def enclosing_class(self, node: ast.AST) -> ast.ClassDef | None:
        """The class whose method (directly) contains `node`."""
        fn = self.enclosing_function(node)
        while fn is not None:
            parent = self.parents.get(fn)
            if isinstance(parent, ast.ClassDef):
                return parent
            fn = self.enclosing_function(fn)
        return None

    def scope_of(self, node: ast.AST) -> FunctionNode | ast.Module:
        return self.enclosing_function(node) or self.tree

    # -- names ---------------------------------------------------------------
    def qualname(self, expr: ast.AST) -> str | None:
        """The imported thing an expression names, canonicalised (`nn.CrossEntropyLoss` -> `torch.nn.CrossEntropyLoss`)."""
        if expr in self._qualnames:
            return self._qualnames[expr]
        q = None
        name = dotted(expr)
        if name is not None:
            head, _, rest = name.partition(".")
            if head in self.imports:
                q = canonical(self.imports[head] + ("." + rest if rest else ""))
        self._qualnames[expr] = q
        return q

    def call_qualname(self, call: ast.Call) -> str | None:
        return self.qualname(call.func)

    # -- classes ---------------------------------------------------------------
    def class_info(self, name_or_node: str | ast.ClassDef) -> ClassInfo | None:
        node = self.classes.get(name_or_node) if isinstance(name_or_node, str) else name_or_node
        if node is None:
            return None
        return ClassInfo(node.name, node, self, [q for q in (self.base_qualname(b) for b in node.bases) if q])

    def base_qualname(self, base: ast.AST) -> str | None:
        q = self.qualname(base)
        if q is not None:
            return q
        name = dotted(base)
        if name in self.classes:
            return f"<local>.{name}"
        return None

    def resolve_class(self, expr: ast.AST) -> ClassInfo | None:
        """The class an expression names, when it is defined in this file or the workspace."""
        name = dotted(expr)
        if name is None:
            return None
        if name in self.classes:
            if name in self._redefined:
                node = self._def_in_effect(self._redefined[name], expr)
                return self.class_info(node) if isinstance(node, ast.ClassDef) else None
            return self.class_info(name)
        q = self.qualname(expr)
        # torch is never looked for in the workspace, nor asked of Jedi (a named library)
        if q and self.workspace is not None and not q.startswith("torch."):
            found = self.workspace.find_class(q, self)
            last = q.rsplit(".", 1)[-1]
            top = q.split(".")[0]
            # Jedi only for class-like names from third-party packages: it is slow (DESIGN.md)
            if (
                found is None
                and last[:1].isupper()
                and top not in NAMED_LIBRARIES
                and top not in sys.stdlib_module_names
                and not self.workspace.owns(q, self)
            ):
                found = self.workspace.jedi_class(self, expr, q)
            return found
        return None

    def _def_in_effect(self, defs: list[ast.stmt], expr: ast.AST) -> ast.stmt | None:
        """Of a class or function defined several times at the top level, the one module-level
        code at `expr` runs: the last defined above it. Inside a function (called later, from
        anywhere) it is unknown."""
        if self.scope_of(expr) is not self.tree:
            return None
        before = [d for d in defs if d.lineno < getattr(expr, "lineno", 0)]
        return before[-1] if before else None

    def class_bases_closure(self, info: ClassInfo, _depth: int = 0) -> set[str]:
        """Qualified names of all known ancestors (library bases stop the walk)."""
        out: set[str] = set()
        if _depth > 12:
            return out
        for base in info.node.bases:
            q = info.model.qualname(base)
            if q is not None:
                out.add(q)
            sub = info.model.resolve_class(base)
            if sub is not None and sub.node is not info.node:
                out |= sub.model.class_bases_closure(sub, _depth + 1)
            elif q is None and self.workspace is not None:
                jq = self.workspace.jedi_base_qualnames(info.model, base)
                out |= jq
        return out

    def class_kind(self, info: ClassInfo) -> Kind | None:
        bases = {canonical(b) for b in self.class_bases_closure(info)}
        if bases & ITERABLE_DATASET_BASES:
            return Kind.ITERABLE_DATASET
        if bases & DATASET_BASES:
            return Kind.DATASET
        if bases & MODULE_BASES or any(constructor_kind(b) in (Kind.MODULE, Kind.LOSS) for b in bases):
            return Kind.MODULE
        if any(constructor_kind(b) == Kind.OPTIMIZER for b in bases):
            return Kind.OPTIMIZER
        return None

    def is_module_class(self, node: ast.ClassDef) -> bool:
        info = self.class_info(node)
        return info is not None and self.class_kind(info) == Kind.MODULE

    # -- assignments -----------------------------------------------------------
    def assigned_values(self, scope: Scope, name: str) -> list[ast.AST]:
        """Values assigned to plain `name` in `scope` (not nested functions), in source order."""
        index = self._scope_assignments.get(id(scope))
        if index is None:
            index = self._scope_assignments[id(scope)] = _assignments(scope, self.walk_scope(scope))
        return index.get(name, [])

    def attr_values(self, cls: ast.ClassDef, attr: str) -> list[ast.AST]:
        """Values assigned to `self.<attr>` in the methods of `cls`."""
        index = self._attr_index.get(id(cls))
        if index is None:
            index = self._attr_index[id(cls)] = {}
            for node in self.subtree(cls):
                if isinstance(node, ast.Assign):
                    pairs = [(t, node.value) for t in node.targets]
                elif isinstance(node, ast.AnnAssign) and node.value is not None:
                    pairs = [(node.target, node.value)]
                else:
                    continue
                while pairs:
                    t, v = pairs.pop()
                    if isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name) and t.value.id == "self":
                        index.setdefault(t.attr, []).append(v)
                    elif isinstance(t, (ast.Tuple, ast.List)):
                        # `self.a, self.b = Net(), Net()` pairs up; unpacked from anything else,
                        # each gets the target tuple itself: a value of unknown kind
                        if isinstance(v, (ast.Tuple, ast.List)) and len(v.elts) == len(t.elts):
                            pairs.extend(zip(t.elts, v.elts))
                        else:
                            pairs.extend((e, t) for e in t.elts)
                    elif isinstance(t, ast.Starred):
                        pairs.append((t.value, t))
        return index.get(attr, [])

    def param_annotation(self, scope: Scope, name: str) -> ast.AST | None:
        if isinstance(scope, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for a in [*scope.args.posonlyargs, *scope.args.args, *scope.args.kwonlyargs]:
                if a.arg == name:
                    return a.annotation
        return None

    def is_param(self, scope: Scope, name: str) -> bool:
        if isinstance(scope, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            a = scope.args
            return any(
                p.arg == name for p in [*a.posonlyargs, *a.args, *a.kwonlyargs, *(x for x in (a.vararg, a.kwarg) if x)]
            )
        return False

    # -- kinds -----------------------------------------------------------------
    def kind(self, expr: ast.AST, _depth: int = 0) -> KindInfo | None:
        """What kind of PyTorch object `expr` evaluates to, or None when unknown."""
        if _depth > 8:
            return None
        if expr.__class__ is ast.Name and expr.id not in self.bound_names:
            return None  # a builtin, a def, a class or an import: nothing of ours gives it a kind
        key = id(expr)
        if key in self._kind_cache:
            return self._kind_cache[key]
        self._kind_cache[key] = None  # cycles (x = f(x)) resolve to unknown
        result = self._kind_uncached(expr, _depth)
        self._kind_cache[key] = result
        return result

    @cached_property
    def star_imports(self) -> bool:
        """Does a `from x import *` bind names here that the import table does not list?"""
        return any(a.name == "*" for node in self._by_type.get(ast.ImportFrom, ()) for a in node.names)  # type: ignore[attr-defined]

    @cached_property
    def bound_names(self) -> frozenset[str]:
        """Names an assignment, a loop, a `with` or a parameter of this file binds. `kind` of
        any other name is unknown (its values are the assignments and its callers' arguments),
        and asking costs a walk up its scopes: most calls of a file are builtins and defs."""
        names = {n.id for n in self._by_type.get(ast.Name, ()) if n.ctx.__class__ is ast.Store}  # type: ignore[attr-defined]
        names.update(a.arg for a in self._by_type.get(ast.arg, ()))  # type: ignore[attr-defined]
        return frozenset(names)

    def _kind_uncached(self, expr: ast.AST, _depth: int) -> KindInfo | None:
        if isinstance(expr, ast.Call):
            return self._call_kind(expr, _depth)
        if isinstance(expr, ast.Name):
            return self._name_kind(expr, _depth)
        if isinstance(expr, ast.Attribute) and isinstance(expr.value, ast.Name) and expr.value.id == "self":
            cls = self.enclosing_class(expr)
            if cls is not None:
                return self._agree([self.kind(v, _depth + 1) for v in self.attr_values(cls, expr.attr)])
        return None

    def _call_kind(self, call: ast.Call, depth: int) -> KindInfo | None:
        func = call.func
        if isinstance(func, ast.Attribute) and func.attr in MODULE_PASS_THROUGH_METHODS:
            inner = self.kind(func.value, depth + 1)
            if inner is not None and inner.kind in (Kind.MODULE, Kind.LOSS):  # losses are modules too
                return inner
        q = self.call_qualname(call)
        if q is not None:
            if (
                q in ("torch.compile", "torch.nn.DataParallel", "torch.nn.parallel.DistributedDataParallel")
                and call.args
            ):
                inner = self.kind(call.args[0], depth + 1)
                if inner is not None:
                    return inner
                if q == "torch.compile":
                    return None
            k = constructor_kind(q)
            if k is not None:
                return KindInfo(k, q, call, model=self)
        cls = self.resolve_class(func)
        if cls is not None:
            k = self.class_kind(cls)
            if k is not None:
                return KindInfo(k, None, call, cls, model=self)
        if isinstance(func, ast.Attribute) and func.attr == "from_pretrained":
            owner = self.qualname(func.value) or ""
            if (
                owner.startswith("transformers.")
                and "Tokenizer" not in owner
                and "Config" not in owner
                and "Processor" not in owner
            ):
                return KindInfo(Kind.MODULE, owner, call, model=self)
        if isinstance(func, ast.Attribute) and func.attr in _MODULE_FACTORY_METHODS:
            # `LitModel.load_from_checkpoint(path)`, `EfficientNet.from_pretrained(name)`: classmethods
            # that build an instance of their class
            owner_cls = self.resolve_class(func.value)
            if owner_cls is not None and self.class_kind(owner_cls) == Kind.MODULE:
                return KindInfo(Kind.MODULE, None, call, owner_cls, model=self)
        if q is not None and q.split(".")[0] in NAMED_LIBRARIES:
            return None
        # a factory of ours: `model = build_model(cfg)` is what `build_model` returns
        ref = self.resolve_function(call)
        if ref is not None:
            return ref.model.returned_kind(ref.node, depth + 1)
        return None

    def returned_kind(self, fn: FunctionNode, depth: int = 0) -> KindInfo | None:
        """What every call of `fn` (of this file) returns: its `-> X` annotation, else the kind
        all its `return` values agree on. Generators and functions without a return: unknown."""
        if depth > 8:
            return None
        if fn.returns is not None:
            return self._annotation_kind(fn.returns)
        values: list[ast.AST | None] = []
        for node in self.walk_scope(fn):
            if isinstance(node, (ast.Yield, ast.YieldFrom)):
                return None
            if isinstance(node, ast.Return):
                values.append(node.value)
        known = [v for v in values if v is not None]
        if not known or len(known) != len(values):
            return None
        return self._agree([self.kind(v, depth + 1) for v in known])

    def _annotation_kind(self, ann: ast.AST) -> KindInfo | None:
        q = self.qualname(ann)
        if q is not None:
            k = constructor_kind(q) or (Kind.MODULE if q in MODULE_BASES else None)
            if q in ("torch.optim.Optimizer",):
                k = Kind.OPTIMIZER
            return KindInfo(k, q, model=self) if k else None
        cls = self.resolve_class(ann)
        if cls is not None:
            k = self.class_kind(cls)
            return KindInfo(k, None, None, cls, model=cls.model) if k else None
        return None

    def _name_kind(self, name: ast.Name, depth: int) -> KindInfo | None:
        scope: Scope = self.scope_of(name)
        while True:
            # `model = model.cuda()`, `model = torch.compile(model)`, `model = nn.DataParallel(model)`
            # (under an `if` or not) keep whatever the other bindings made
            values = [v for v in self.assigned_values(scope, name.id) if not _rewraps(v, name.id)]
            if values:
                return self._agree([self.kind(v, depth + 1) if isinstance(v, ast.expr) else None for v in values])
            ann = self.param_annotation(scope, name.id)
            if ann is not None:
                annotated = self._annotation_kind(ann)
                if annotated is not None and annotated.qualname in MODULE_BASES and self.is_param(scope, name.id):
                    # `loss_fn: nn.Module`: what the callers pass (a loss, a model of a known
                    # class) says more than the base class
                    return self.param_kind(scope, name.id, depth + 1) or annotated
                return annotated
            if self.is_param(scope, name.id):
                return self.param_kind(scope, name.id, depth + 1)
            if scope is self.tree:
                return None
            scope = self.scope_of(scope)

    def param_kind(self, fn: Scope, name: str, depth: int = 0) -> KindInfo | None:
        """An unannotated parameter takes the kind its callers pass: every call of `fn` in this
        file and in the workspace files that import it, all agreeing (at least one call)."""
        if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)) or depth > 8:
            return None
        key = (id(fn), name)
        if key in self._param_kinds:
            return self._param_kinds[key]
        self._param_kinds[key] = None  # recursion (f calls itself): unknown
        self._param_kinds[key] = result = self._param_kind(fn, name, depth)
        return result

    def _param_kind(self, fn: FunctionNode, name: str, depth: int) -> KindInfo | None:
        if _param_index(fn, name) == (None, False):
            return None  # *args / **kwargs
        is_method = isinstance(self.parents.get(fn), ast.ClassDef) and not _is_static(fn)
        kinds: list[KindInfo | None] = []
        for m in self._callers_models(fn):
            for call in m.calls_named(fn.name):
                ref = m.resolve_function(call)
                if ref is None or ref.node is not fn:
                    continue
                arg = argument_for(call, fn, name, is_method)
                if arg is None:
                    return None  # a default, *args or **kwargs at some call: unknown
                kinds.append(m.kind(arg, depth + 1))
                if kinds[-1] is None or len(kinds) > 50:
                    return None
        if not kinds:
            return None
        known = [k for k in kinds if k is not None]  # all of them (an unknown one returned above)
        first = known[0]
        if any(k.kind != first.kind for k in known):
            return None
        same = all(
            k.qualname == first.qualname and (k.cls.node if k.cls else None) is (first.cls.node if first.cls else None)
            for k in known
        )
        return first if same else KindInfo(first.kind)

    def _callers_models(self, fn: FunctionNode) -> Iterator[SemanticModel]:
        """This file, then the workspace files that import `fn`: those are read only when this
        file's own calls leave the answer open (most parameters are settled by the first)."""
        yield self
        if self.workspace is not None and self.functions.get(fn.name) is fn:
            yield from self.workspace.importer_models(self, fn.name)

    @staticmethod
    def _agree(kinds: list[KindInfo | None]) -> KindInfo | None:
        known = [k for k in kinds if k is not None]
        if not known or len(known) != len(kinds):
            return None
        first = known[0]
        return first if all(k.kind == first.kind for k in known) else None

    # -- does the mode matter? ---------------------------------------------------------
    def mode_dependence(self, info: KindInfo | None) -> bool | None:
        """Whether a module behaves differently in train() and eval() mode: True when it holds
        Dropout, BatchNorm and the like (or reads `self.training`), False when every layer it
        holds is known and none does, None when that cannot be told (third-party models)."""
        layers = self.mode_layers(info)
        if layers is None:
            return None
        return bool(layers)

    def mode_layers(self, info: KindInfo | None) -> frozenset[str] | None:
        """The mode-dependent layers a module holds (`Dropout`, `BatchNorm2d`, `self.training`...):
        empty when it certainly holds none, None when that cannot be told."""
        if info is None or info.kind != Kind.MODULE:
            return None
        found: set[str] = set()
        owner = info.model or self
        if info.cls is not None and not info.qualname:
            unknown = info.cls.model._class_layers(info.cls, found, frozenset())
        elif info.qualname and info.qualname.startswith("torch.nn.") and isinstance(info.node, ast.Call):
            unknown = owner._layer_layers(info.qualname, info.node, found, frozenset())
        else:
            return None
        if found:
            return frozenset(found)
        return None if unknown else frozenset()

    def _layer_layers(self, q: str, call: ast.Call, found: set[str], seen: frozenset) -> bool:
        """Add the mode-dependent layers a `torch.nn` constructor call builds; True when unknown."""
        last = q.rsplit(".", 1)[-1]
        if last in MODE_DEPENDENT_LAYERS:
            found.add(last)
        elif last in DROPOUT_BY_DEFAULT:
            if _zero_arg(call, "dropout") is not True:
                found.add(last)
        elif last in DROPOUT_IF_ASKED:
            if _zero_arg(call, "dropout", default_zero=True) is not True:
                if last == "MultiheadAttention":
                    found.add(last)
                else:
                    # RNN dropout acts between layers only: none with a single layer
                    layers = _keyword(call, "num_layers") or (call.args[2] if len(call.args) > 2 else None)
                    if layers is None and not any(k.arg is None for k in call.keywords):
                        pass  # num_layers defaults to 1
                    elif isinstance(layers, ast.Constant) and isinstance(layers.value, int):
                        if layers.value > 1:
                            found.add(last)
                    else:
                        return True  # a number of layers we cannot read
        elif last in RUNNING_STATS_IF_ASKED:
            if _false_arg(call, "track_running_stats") is not True:
                found.add(last)
        elif last in CONTAINERS:
            return self._nodes_layers(_below(call), None, found, seen)
        elif not last[:1].isupper():
            return True
        return False

    def _class_layers(self, info: ClassInfo, found: set[str], seen: frozenset) -> bool:
        key = (self.source.path, info.node.lineno)
        if key in seen:
            return True
        seen = seen | {key}
        unknown = False
        for base in info.node.bases:
            sub = self.resolve_class(base)
            if sub is not None:
                unknown |= sub.model._class_layers(sub, found, seen)
            elif self.qualname(base) not in MODULE_BASES:
                unknown = True  # a library base class (timm, torchvision...): its layers are unknown
        return self._nodes_layers(info.model.subtree(info.node), info.node, found, seen) or unknown

    def _nodes_layers(self, nodes: list[ast.AST], cls: ast.ClassDef | None, found: set[str], seen: frozenset) -> bool:
        unknown = False
        called_attrs: set[str] = set()
        for node in nodes:
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id == "self"
                and node.attr == "training"
            ):
                found.add("self.training")
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id == "self":
                called_attrs.add(func.attr)
            q = self.call_qualname(node)
            if q is not None:
                last = q.rsplit(".", 1)[-1]
                if q.startswith("torch.nn.functional.") and last in MODE_DEPENDENT_FUNCTIONS:
                    if _false_arg(node, "training") is not True:
                        found.add(f"F.{last}")
                    continue
                if q.startswith("torch.nn."):
                    if self._layer_layers(q, node, found, seen) and constructor_kind(q) == Kind.MODULE:
                        unknown = True
                    continue
                if constructor_kind(q) == Kind.MODULE or q.startswith(("torchvision.", "timm.", "transformers.")):
                    unknown = True  # a library model: its layers are not ours to see
                    continue
            cls_info = self.resolve_class(func)
            if cls_info is not None and self.class_kind(cls_info) == Kind.MODULE:
                unknown |= cls_info.model._class_layers(cls_info, found, seen)
        if cls is not None:
            # a submodule passed in or built elsewhere (`self.encoder = encoder`) must be known too
            for attr in sorted(called_attrs):
                for value in self.attr_values(cls, attr):
                    if isinstance(value, ast.Call):
                        continue  # walked above
                    layers = self.mode_layers(self.kind(value))
                    if layers is None:
                        unknown = True
                    else:
                        found |= layers
        return unknown

    # -- tensors -----------------------------------------------------------------
    def is_tensor(self, expr: ast.AST, _depth: int = 0) -> bool:
        """Does `expr` certainly evaluate to one torch.Tensor? True for torch factories and
        math, tensor methods of a tensor, loss values, the elements of a batch from a
        DataLoader with the default collate (`for x, y in loader`, `x, y = batch`), and names
        every binding of which is one of those; False when unknown."""
        if _depth > 8:
            return False
        d = _depth + 1
        if isinstance(expr, ast.Call):
            func = expr.func
            q = self.call_qualname(expr) or ""
            if q in TENSOR_FUNCTIONS or is_functional_loss(q):
                return True
            if isinstance(func, ast.Attribute) and func.attr in TENSOR_METHODS and not q:
                return self.is_tensor(func.value, d)
            k = self.kind(func)
            return k is not None and k.kind == Kind.LOSS
        if isinstance(expr, ast.BinOp) and not isinstance(expr.op, ast.Mod):
            return self.is_tensor(expr.left, d) or self.is_tensor(expr.right, d)
        if isinstance(expr, ast.UnaryOp) and isinstance(expr.op, ast.USub):
            return self.is_tensor(expr.operand, d)
        if isinstance(expr, ast.Attribute) and expr.attr in ("T", "data", "mT"):
            return self.is_tensor(expr.value, d)
        if isinstance(expr, ast.Subscript):
            return self.is_tensor(expr.value, d) or self._is_batch(expr.value, d)
        if isinstance(expr, ast.Name):
            return self._name_is_tensor(expr, d)
        return False

    def _name_is_tensor(self, name: ast.Name, depth: int) -> bool:
        scope: Scope = self.scope_of(name)
        while True:
            values = self.assigned_values(scope, name.id)
            if values:
                # `x = x.to(device)` / `x = x.float()` keeps what the other bindings made
                kept = [v for v in values if not _converts_itself(v, name.id)]
                return bool(kept) and all(self._binding_is_tensor(v, name.id, depth) for v in kept)
            ann = self.param_annotation(scope, name.id)
            if ann is not None:
                return self.qualname(ann) == "torch.Tensor"
            if self.is_param(scope, name.id) or scope is self.tree:
                return False
            scope = self.scope_of(scope)

    def _binding_is_tensor(self, value: ast.AST, name: str, depth: int) -> bool:
        """One binding of `name` (see `assigned_values`): a value, a loop, or an unpacking target."""
        if isinstance(value, (ast.For, ast.AsyncFor)):
            return self._batch_element(value.iter, value.target, name)
        if isinstance(value, (ast.Tuple, ast.List)):
            parent = self.parents.get(value)
            # `x, y = batch`
            return isinstance(parent, ast.Assign) and self._is_batch(parent.value, depth)
        if isinstance(value, ast.expr):
            return self.is_tensor(value, depth)
        return False

    def _default_collate_loader(self, expr: ast.AST) -> bool:
        """A `DataLoader(...)` built with the default collate function (batches of tensors)."""
        k = self.kind(expr)
        if k is None or k.kind != Kind.DATALOADER or not isinstance(k.node, ast.Call):
            return False
        return not any(kw.arg in (None, "collate_fn") for kw in k.node.keywords)

    def _loader_batches(self, it: ast.AST, target: ast.AST) -> ast.AST | None:
        """The part of a loop target that is one batch of a default-collate DataLoader."""
        enumerated = False
        while isinstance(it, ast.Call) and last_name(it.func) in LOADER_WRAPPERS - {"zip"} and it.args:
            enumerated |= last_name(it.func) == "enumerate"
            it = it.args[0]
        if not self._default_collate_loader(it):
            return None
        if enumerated:
            if not (isinstance(target, ast.Tuple) and len(target.elts) == 2):
                return None
            target = target.elts[1]
        return target

    def _batch_element(self, it: ast.AST, target: ast.AST, name: str) -> bool:
        """`for x, y in loader` / `for i, (x, y) in enumerate(loader)`: `name` is an element."""
        batch = self._loader_batches(it, target)
        return isinstance(batch, (ast.Tuple, ast.List)) and any(
            isinstance(n, ast.Name) and n.id == name for e in batch.elts for n in ast.walk(e)
        )

    def _is_batch(self, expr: ast.AST, depth: int) -> bool:
        """A name bound only as a whole batch of a default-collate DataLoader (`for batch in loader`)."""
        if not isinstance(expr, ast.Name):
            return False
        values = self.assigned_values(self.scope_of(expr), expr.id)
        return bool(values) and all(
            isinstance(v, (ast.For, ast.AsyncFor))
            and isinstance(b := self._loader_batches(v.iter, v.target), ast.Name)
            and b.id == expr.id
            for v in values
        )

    # -- what a model is built from ---------------------------------------------------
    def built_layers(self, info: KindInfo | None, wanted: frozenset[str]) -> frozenset[str]:
        """Which of the `torch.nn` classes named in `wanted` (`LSTM`, `GRU`...) the module of
        `info` certainly builds: in its own class, its bases and the classes of ours it builds
        (library models and submodules passed in are not looked into). Positive evidence only."""
        if info is None or info.kind != Kind.MODULE:
            return frozenset()
        found: set[str] = set()
        if info.cls is not None and not info.qualname:
            info.cls.model._built_in(info.cls.model.subtree(info.cls.node), wanted, found, frozenset(), info.cls)
        elif info.qualname and isinstance(info.node, ast.Call):
            owner = info.model or self
            owner._built_in(owner.subtree(info.node), wanted, found, frozenset(), None)
        return frozenset(found)

    def _built_in(
        self, nodes: list[ast.AST], wanted: frozenset[str], found: set[str], seen: frozenset, cls: ClassInfo | None
    ) -> None:
        if cls is not None:
            key = (self.source.path, cls.node.lineno)
            if key in seen or len(seen) > 12:
                return
            seen = seen | {key}
            for base in cls.node.bases:
                sub = self.resolve_class(base)
                if sub is not None:
                    sub.model._built_in(sub.model.subtree(sub.node), wanted, found, seen, sub)
        for node in nodes:
            if not isinstance(node, ast.Call):
                continue
            q = self.call_qualname(node)
            if q is not None and q.startswith("torch.nn."):
                last = q.rsplit(".", 1)[-1]
                if last in wanted:
                    found.add(last)
                continue
            sub = self.resolve_class(node.func)
            if sub is not None and self.class_kind(sub) == Kind.MODULE:
                sub.model._built_in(sub.model.subtree(sub.node), wanted, found, seen, sub)

    # -- callees ---------------------------------------------------------------
    def resolve_function(self, call: ast.Call) -> FunctionRef | None:
        """The function a call runs, when it is defined in this file or the workspace."""
        func = call.func
        if isinstance(func, ast.Name):
            nested = self._nested_function(call, func.id)
            if nested is not None:
                return FunctionRef(nested, self)
            if func.id in self._redefined:
                node = self._def_in_effect(self._redefined[func.id], call)
                return FunctionRef(node, self) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) else None
            if func.id in self.functions:
                return FunctionRef(self.functions[func.id], self)
            q = self.qualname(func)
            if q and self.workspace is not None and not q.startswith("torch."):  # never in the workspace
                return self.workspace.find_function(q, self)
            return None
        if isinstance(func, ast.Attribute):
            if isinstance(func.value, ast.Name) and func.value.id == "self":
                cls = self.enclosing_class(call)
                if cls is not None:
                    return self.find_method(self.class_info(cls), func.attr)
                return None
            recv = self.kind(func.value)
            if recv is not None and recv.cls is not None:
                return recv.cls.model.find_method(recv.cls, func.attr)
            q = self.qualname(func)
            if q and self.workspace is not None and not q.startswith("torch."):
                return self.workspace.find_function(q, self)
        return None

    def _nested_function(self, node: ast.AST, name: str) -> FunctionNode | None:
        """A `def name` local to a function enclosing `node` (closures like `run_validate`)."""
        scope = self.enclosing_function(node)
        while scope is not None:
            defs = self._nested.get(id(scope))
            if defs is None:
                defs = self._nested[id(scope)] = {
                    n.name: n for n in self.walk_scope(scope) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
                }
            if name in defs:
                return defs[name]
            scope = self.enclosing_function(scope)
        return None

    def find_method(self, info: ClassInfo | None, name: str, _depth: int = 0) -> FunctionRef | None:
        if info is None or _depth > 8:
            return None
        for stmt in info.node.body:
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)) and stmt.name == name:
                return FunctionRef(stmt, info.model, info.node)
        for base in info.node.bases:
            sub = info.model.resolve_class(base)
            if sub is not None:
                found = sub.model.find_method(sub, name, _depth + 1)
                if found is not None:
                    return found
        return None


_WRAPPERS = {"torch.compile", "torch.nn.DataParallel", "torch.nn.parallel.DistributedDataParallel"}


def _rewraps(value: ast.AST, name: str) -> bool:
    """`name = name.to(dev)` / `.cuda()` / `.train()` / `torch.compile(name)` / `nn.DataParallel(name)`."""
    node = value
    while isinstance(node, ast.Call):
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr in MODULE_PASS_THROUGH_METHODS:
            node = func.value
        elif node.args and (last_name(func) in ("compile", "DataParallel", "DistributedDataParallel")):
            node = node.args[0]
        else:
            return False
    return isinstance(node, ast.Name) and node.id == name and node is not value


def _converts_itself(value: ast.AST, name: str) -> bool:
    """`name.to(device)`, `name.float().cuda()`: tensor methods of `name` itself."""
    node = value
    while isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in TENSOR_METHODS:
        node = node.func.value
    return isinstance(node, ast.Name) and node.id == name and node is not value


def _param_index(fn: ast.AST, name: str) -> tuple[int | None, bool]:
    """(positional index, can be passed by keyword) of parameter `name` of `fn`."""
    a = fn.args  # type: ignore[attr-defined]
    for i, p in enumerate([*a.posonlyargs, *a.args]):
        if p.arg == name:
            return i, p not in a.posonlyargs
    if any(p.arg == name for p in a.kwonlyargs):
        return None, True
    return None, False


def argument_for(call: ast.Call, fn: FunctionNode, name: str, bound: bool) -> ast.AST | None:
    """The expression `call` passes for parameter `name` of `fn` (`bound`: a method called on
    an instance or class, whose first parameter the call does not spell); None when unknown."""
    pos, kw_ok = _param_index(fn, name)
    if pos is None and not kw_ok:
        return None  # *args / **kwargs
    return _argument(call, name, pos - 1 if (bound and pos is not None) else pos, kw_ok)


def _argument(call: ast.Call, name: str, pos: int | None, kw_ok: bool) -> ast.AST | None:
    """The expression a call passes for a parameter, None when it cannot be told."""
    for k in call.keywords:
        if k.arg is None:
            return None  # **kwargs may hold it
        if k.arg == name and kw_ok:
            return k.value
    if pos is not None and pos >= 0 and pos < len(call.args):
        if any(isinstance(a, ast.Starred) for a in call.args[: pos + 1]):
            return None
        return call.args[pos]
    return None


def _keyword(call: ast.Call, name: str) -> ast.AST | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def _zero_arg(call: ast.Call, name: str, default_zero: bool = False) -> bool | None:
    """Whether keyword `name` is certainly 0 (True), certainly not (False), or unknown (None)."""
    value = _keyword(call, name)
    if value is None:
        return True if default_zero and not any(k.arg is None for k in call.keywords) else None
    if isinstance(value, ast.Constant) and isinstance(value.value, (int, float)):
        return value.value == 0
    return None


def _false_arg(call: ast.Call, name: str) -> bool | None:
    """Whether keyword `name` is certainly False/absent-with-False-default (True), or not."""
    value = _keyword(call, name)
    if value is None:
        return True if not any(k.arg is None for k in call.keywords) else None
    if isinstance(value, ast.Constant) and isinstance(value.value, bool):
        return not value.value
    return None


def _is_static(fn: FunctionNode) -> bool:
    return any(last_name(d) == "staticmethod" for d in fn.decorator_list)


def statement_index(source: SourceFile, stmt: ast.stmt) -> tuple[list[list[ast.AST]], dict[ast.AST, ast.AST]]:
    """A top-level statement's nodes by depth (breadth-first) and their parents, computed once
    per statement node (`reparse` keeps the nodes of statements an edit did not touch)."""
    facts = source.facts_of(stmt)
    if facts.index is not None:
        return facts.index
    levels: list[list[ast.AST]] = [[stmt]]
    parents: dict[ast.AST, ast.AST] = {}
    children: dict[ast.AST, list[ast.AST]] = {}
    frontier = levels[0]
    while True:
        below: list[ast.AST] = []
        for node in frontier:
            start = len(below)
            # `ast.iter_child_nodes`, inlined (the file's one full walk: a third faster)
            for name in node._fields:
                value = getattr(node, name, None)
                if value.__class__ is list:
                    for child in value:
                        if isinstance(child, AST):
                            parents[child] = node
                            below.append(child)
                elif isinstance(value, AST):
                    parents[value] = node
                    below.append(value)
            if len(below) > start:
                children[node] = below[start:]
        if not below:
            break
        levels.append(below)
        frontier = below
    facts.index = (levels, parents)
    facts.children = children
    return levels, parents


def statement_types(source: SourceFile, stmt: ast.stmt) -> list[dict[type, list[ast.AST]]]:
    """`statement_index`'s levels, each split by node type (in order), once per statement node."""
    facts = source.facts_of(stmt)
    if facts.types is None:
        tables: list[dict[type, list[ast.AST]]] = []
        for level in statement_index(source, stmt)[0]:
            buckets: dict[type, list[ast.AST]] = {}
            for node in level:
                t = type(node)
                bucket = buckets.get(t)
                if bucket is None:
                    bucket = buckets[t] = []
                bucket.append(node)
            tables.append(buckets)
        facts.types = tables
    return facts.types


_SCOPE_TYPES = (ast.FunctionDef, ast.AsyncFunctionDef)
_IMPORT_TYPES = (ast.Import, ast.ImportFrom)


def _in_order(level: list[ast.AST], buckets: dict[type, list[ast.AST]], types: tuple[type, type]) -> list[ast.AST]:
    """The nodes of `level` of either type, in their order in the level."""
    a, b = buckets.get(types[0]), buckets.get(types[1])
    if a and b:
        return [n for n in level if type(n) in types]
    return a or b or []


_NESTED_SCOPES = frozenset({ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef})


def child_nodes(node: ast.AST) -> list[ast.AST]:
    """`list(ast.iter_child_nodes(node))`, in the same order, without its generators."""
    out: list[ast.AST] = []
    for name in node._fields:
        value = getattr(node, name, None)
        if value.__class__ is list:
            out.extend(child for child in value if isinstance(child, AST))
        elif isinstance(value, AST):
            out.append(value)
    return out


Children = Callable[[ast.AST], Sequence[ast.AST]]  # a node's children, in iter_child_nodes order


def _descendants(node: ast.AST, kids: Children = child_nodes) -> list[ast.AST]:
    out = list(kids(node))
    i = 0
    while i < len(out):  # breadth-first, as `ast.walk`
        out.extend(kids(out[i]))
        i += 1
    return out


# a node's descendants in `ast.walk` order (not the node: a fact must not hold its key)
_below: Facts[ast.AST, list[ast.AST]] = Facts(_descendants)


def subtree(node: ast.AST) -> list[ast.AST]:
    """`list(ast.walk(node))`, walked once per node (classes are read by many questions)."""
    return [node, *_below(node)]


def _scope_nodes(scope: ast.AST, kids: Children = child_nodes) -> list[ast.AST]:
    """Nodes of a scope, not descending into nested functions, lambdas or classes."""
    out: list[ast.AST] = []
    stack: list[ast.AST] = list(kids(scope)) if not isinstance(scope, ast.Module) else list(scope.body)
    while stack:
        node = stack.pop()
        out.append(node)
        if node.__class__ not in _NESTED_SCOPES or node is scope:
            stack.extend(kids(node))
        else:
            # a nested definition: its decorators and defaults run in this scope
            stack.extend(getattr(node, "decorator_list", []))
    return out


# once per scope node: rules and resolution ask for the same scopes often
_walk_scope: Facts[ast.AST, list[ast.AST]] = Facts(_scope_nodes)


def walk_scope(scope: ast.AST) -> list[ast.AST]:
    return _walk_scope(scope)


def _assignments(scope: ast.AST, walked: list[ast.AST]) -> dict[str, list[ast.AST]]:
    """Values bound to plain names in `scope` (`walked`: its nodes, `walk_scope`)."""
    out: dict[str, list[ast.AST]] = {}

    def bind(target: ast.AST, value: ast.AST | None, what: ast.AST | None = None) -> None:
        bound = what if what is not None else value  # a value, or what binds it opaquely
        if isinstance(target, ast.Name) and bound is not None:
            out.setdefault(target.id, []).append(bound)
        elif isinstance(target, (ast.Tuple, ast.List)):
            if what is None and isinstance(value, (ast.Tuple, ast.List)) and len(value.elts) == len(target.elts):
                for t, v in zip(target.elts, value.elts):
                    bind(t, v)
            else:
                for t in target.elts:
                    bind(t, None, what if what is not None else target)  # unpacked from something opaque
        elif isinstance(target, ast.Starred):
            bind(target.value, None, what if what is not None else target)

    binders = (
        ast.Assign,
        ast.AnnAssign,
        ast.NamedExpr,
        ast.For,
        ast.AsyncFor,
        ast.comprehension,
        ast.With,
        ast.AsyncWith,
    )
    nodes = sorted(
        (n for n in walked if isinstance(n, binders)),
        key=lambda n: (getattr(n, "lineno", 0), getattr(n, "col_offset", 0)),
    )
    for node in nodes:
        if isinstance(node, ast.Assign):
            for t in node.targets:
                bind(t, node.value)
        elif isinstance(node, ast.AnnAssign) and node.value is not None or isinstance(node, ast.NamedExpr):
            bind(node.target, node.value)
        elif isinstance(node, (ast.For, ast.AsyncFor, ast.comprehension)):
            bind(node.target, None, node)  # a loop target: not a constructor
        elif isinstance(node, (ast.With, ast.AsyncWith)):
            for item in node.items:
                if item.optional_vars is not None:
                    bind(item.optional_vars, None, item)
    return out


def _binds(target: ast.AST, name: str) -> bool:
    return any(isinstance(n, ast.Name) and n.id == name for n in ast.walk(target))


def _values_for(target: ast.AST, value: ast.AST, name: str) -> list[ast.AST]:
    if isinstance(target, ast.Name):
        return [value] if target.id == name else []
    if isinstance(target, (ast.Tuple, ast.List)):
        if isinstance(value, (ast.Tuple, ast.List)) and len(value.elts) == len(target.elts):
            out = []
            for t, v in zip(target.elts, value.elts):
                out.extend(_values_for(t, v, name))
            return out
        if _binds(target, name):
            return [target]  # unpacked from something opaque: unknown
    if isinstance(target, ast.Starred):
        return _values_for(target.value, value, name)
    return []
