"""Every use of Jedi: only where the AST, the workspace's files and torchapi's tables cannot
tell, and each question answered once per run.

Jedi is slow to start (unpickling its caches, parsing typeshed: ~0.3-0.8 s for the first
question), so questions whose answer is already known are never put to it:
- a class base spelled `object`, bound nowhere in the file, is `builtins.object`;
- a name imported from a package that is nowhere Jedi would look (the workspace, the extra
  paths, the environment's sys.path, Jedi's bundled stubs) resolves to nothing. This is only
  decided for the environment torchlint runs in (Jedi's default one), whose sys.path is this
  process's; another interpreter is always asked.
"""

from __future__ import annotations

import ast
import builtins
import importlib.util
import logging
import os
import site
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .documents import MAX_MODULE_BYTES
from .modules import OPAQUE_TOPS, ModuleResolver

if TYPE_CHECKING:
    import jedi  # type: ignore[import-untyped]  # jedi ships no py.typed

    from .resolve import ClassInfo, FunctionRef, SemanticModel

log = logging.getLogger("torchlint")

_MAX_JEDI_LINE = 3_000  # characters: a file with a longer line is resolved without Jedi
# Widely used packages whose functions never hold a user's training step.
_THIRD_PARTY = {
    "tqdm",
    "wandb",
    "tensorboard",
    "matplotlib",
    "pandas",
    "scipy",
    "sklearn",
    "PIL",
    "cv2",
    "transformers",
    "datasets",
    "accelerate",
    "timm",
    "einops",
    "hydra",
    "omegaconf",
    "yaml",
    "requests",
    "lightning",
    "pytorch_lightning",
}
_ScriptEntry = tuple["SemanticModel", "jedi.Script | None"]


class JediBridge:
    def __init__(
        self,
        modules: ModuleResolver,
        load_model: Callable[[Path], SemanticModel | None],
        interpreter: str | None,
        use_jedi: bool,
    ):
        self._modules = modules
        self._load_model = load_model  # a file Jedi pointed at, as a model (recorded as read)
        self.interpreter = interpreter
        self.use_jedi = use_jedi
        self.project: jedi.Project | None = None
        self._scripts: dict[int, _ScriptEntry] = {}
        # answers, by question: the qualified names of a base (and the files they rest on), and
        # where a class or function is defined (file, name)
        self._bases: dict[tuple[Any, ...], tuple[set[str], list[Path]]] = {}
        self._classes: dict[tuple[str, str], tuple[Path, str] | None] = {}
        self._functions: dict[tuple[str, str], tuple[Path, str] | None] = {}
        self._bound: dict[int, tuple[SemanticModel, frozenset[str] | None]] = {}  # names a file binds
        self._listings: dict[str, frozenset[str] | None] = {}
        self._env_dirs: list[str] | None = None

    # -- the three questions ----------------------------------------------------------------
    def base_qualnames(self, model: SemanticModel, base: ast.AST) -> set[str]:
        """Ancestors of a class base that neither the AST nor the workspace could resolve."""
        builtin = self._unbound_builtin(model, base)
        if builtin == "object" and self.use_jedi and self._environment_dirs() is not None:
            return {"builtins.object"}  # what Jedi answers: typeshed's `class object:` has no bases
        key: tuple[Any, ...]
        if builtin is not None:
            key = ("builtin", builtin)  # the same answer in every file that does not bind it
        else:
            key = (
                model.source.path,
                getattr(base, "lineno", 0),
                getattr(base, "col_offset", 0),
                hash(model.source.text),
            )
        if key in self._bases:
            out, read = self._bases[key]
            for path in read:
                self._load_model(path)  # what the answer rests on, read by this analysis too
            return out
        self._bases[key] = (set(), [])
        out = set()
        read = []
        for name in self._goto(model, base):
            if name.type != "class" or name.module_path is None:
                continue
            if name.full_name:
                out.add(name.full_name)
            other = self._load_model(Path(name.module_path)) if _small(name.module_path) else None
            if other is not None:
                read.append(Path(name.module_path))
            if other is not None and name.name in other.classes:
                info = other.class_info(name.name)
                if info is not None:
                    out |= other.class_bases_closure(info)
        self._bases[key] = (out, read)
        return out

    def find_class(self, model: SemanticModel, expr: ast.AST, qualname: str) -> ClassInfo | None:
        """A class defined outside the workspace (an installed package)."""
        from .resolve import dotted

        key = self._question(qualname, model.source.path)
        if key in self._classes:
            return self._defined(self._classes[key], "classes")
        found = None
        head = (dotted(expr) or "").split(".")[0]
        if self._may_find(qualname, model.source.path, model.import_nodes.get(head)):
            for name in self._goto(model, expr):
                if name.type == "class" and name.module_path is not None and _small(name.module_path):
                    other = self._load_model(Path(name.module_path))
                    if other is not None and name.name in other.classes:
                        found = (Path(name.module_path), name.name)
                        break
        self._classes[key] = found
        return self._defined(found, "classes")

    def find_function(self, qualname: str, importer: SemanticModel) -> FunctionRef | None:
        """A workspace function imported through a path the module lookup does not know."""
        head, last = qualname.split(".")[0], qualname.split(".")[-1]
        if head in OPAQUE_TOPS or head in _THIRD_PARTY or head in sys.stdlib_module_names:
            return None
        node = importer.import_nodes.get(last)
        if not isinstance(node, (ast.Import, ast.ImportFrom)) or self._installed_elsewhere(head):
            return None
        key = (os.path.dirname(importer.source.path), qualname)
        if key in self._functions:
            return self._defined(self._functions[key], "functions")
        result: tuple[Path, str] | None = None
        aliases = node.names if self._may_find(qualname, importer.source.path, node) else []
        for alias in aliases:
            if (alias.asname or alias.name) != last:
                continue
            # point Jedi at the imported name on the import line
            line = importer.source.lines[node.lineno - 1]
            col = line.find(alias.asname or alias.name)
            if col < 0:
                continue
            fake = ast.Name(id=alias.name)
            fake.end_lineno, fake.end_col_offset = (
                node.lineno,
                len(line[: col + len(alias.asname or alias.name)].encode("utf-8")),
            )
            for name in self._goto(importer, fake):
                if name.type == "function" and name.module_path and self._modules.inside_root(Path(name.module_path)):
                    other = self._load_model(Path(name.module_path))
                    if other and name.name in other.functions:
                        result = (Path(name.module_path), name.name)
        self._functions[key] = result
        return self._defined(result, "functions")

    def _defined(self, where: tuple[Path, str] | None, kind: str) -> Any:
        """The class or function `where` names, from the model of its file now (a cached answer
        is read again: the file is recorded as read by this analysis, and may have changed)."""
        if where is None:
            return None
        from .resolve import FunctionRef

        other = self._load_model(where[0])
        if other is None or where[1] not in getattr(other, kind):
            return None
        if kind == "classes":
            return other.class_info(where[1])
        return FunctionRef(other.functions[where[1]], other)

    # -- what is known without Jedi -----------------------------------------------------------
    def _unbound_builtin(self, model: SemanticModel, base: ast.AST) -> str | None:
        """The name of a builtin class that `base` spells, when the file binds it nowhere (and
        Jedi would read the file: see `_long_lines`)."""
        if not isinstance(base, ast.Name) or not isinstance(getattr(builtins, base.id, None), type):
            return None
        hit = self._bound.get(id(model))
        if hit is None or hit[0] is not model:
            hit = (model, None if _long_lines(model) else _bound_names(model))
            if len(self._bound) > 64:
                self._bound.pop(next(iter(self._bound)))
            self._bound[id(model)] = hit
        bound = hit[1]
        return base.id if bound is not None and base.id not in bound else None

    def _may_find(self, qualname: str, importer_path: str, import_node: ast.AST | None) -> bool:
        """Could Jedi find the package `qualname` starts with (imported by `import_node`)?
        False only when no directory it searches holds anything of that name (a module, a
        package, stubs, an extension)."""
        if not self.use_jedi:
            return False
        dirs = self._environment_dirs()
        relative = isinstance(import_node, ast.ImportFrom) and bool(import_node.level)
        if dirs is None or import_node is None or relative:
            return True  # another interpreter (only Jedi knows its packages), a relative import
        roots = [*dirs, *self._importer_dirs(importer_path), str(self._modules.root or Path.cwd())]
        return self._held(qualname.split(".")[0], roots)

    def _question(self, qualname: str, importer_path: str) -> tuple[str, str]:
        """The key of a question to Jedi: Jedi's sys.path is per directory, but a package
        installed outside the workspace that no directory of the importer's shadows is the
        same package from every directory (`packaging.version.Version`, asked from each
        directory of a test tree)."""
        top = qualname.split(".")[0]
        if self._installed_elsewhere(top) and not self._shadowed(top, importer_path):
            return ("", qualname)
        return (os.path.dirname(importer_path), qualname)

    def _shadowed(self, top: str, importer_path: str) -> bool:
        """Does a directory searched before the environment's, from `importer_path`, hold `top`?"""
        return self._held(top, self._importer_dirs(importer_path))

    def _importer_dirs(self, importer_path: str) -> list[str]:
        """The directories Jedi searches for `importer_path` before the environment's: the
        module lookup's roots, the importer's directory and those above it."""
        here = Path(importer_path).parent
        return [str(p) for p in (*self._modules.search_roots(importer_path), here, *here.parents)]

    def _held(self, top: str, dirs: Iterable[str]) -> bool:
        """Does one of `dirs` hold something named `top` (or one that cannot be listed, anything)?"""
        for d in dirs:
            names = self._listing(d)
            if names is None or top in names:
                return True
        return False

    def _installed_elsewhere(self, top: str) -> bool:
        """Is package `top` first found on this interpreter's sys.path outside the workspace
        (`pytest`, `packaging`)? Jedi's answer is then outside too: no workspace function. (A
        workspace installed in development mode is on sys.path by its own directory.)"""
        dirs = self._environment_dirs()
        if dirs is None or not self.use_jedi:
            return False  # another interpreter: only Jedi knows what it finds
        for d in dirs:
            names = self._listing(d)
            if names is None:
                return False  # a zip on sys.path: anything may be inside
            if top in names:
                return not self._modules.inside_root(Path(d))
        return False

    def _listing(self, directory: str) -> frozenset[str] | None:
        """The module names a sys.path entry offers (`x` for x.py, x/, x.cpython-311.so,
        x-stubs/); None when it cannot be listed but exists (a zip: anything may be inside)."""
        if directory not in self._listings:
            try:
                entries = os.listdir(directory)
                names: frozenset[str] | None = frozenset(e.split(".", 1)[0].removesuffix("-stubs") for e in entries)
            except NotADirectoryError:
                names = None
            except OSError:
                names = frozenset()
            self._listings[directory] = names
        return self._listings[directory]

    def _environment_dirs(self) -> list[str] | None:
        """Where Jedi's default environment finds packages, when it is the one torchlint runs
        in (Jedi then reads this interpreter's sys.path); None for any other interpreter."""
        if self._env_dirs is None:
            if self.interpreter or not _same_environment():
                return None
            dirs = [p or os.getcwd() for p in sys.path]
            dirs += site.getsitepackages() + [site.getusersitepackages()]
            spec = importlib.util.find_spec("jedi")
            if spec is not None and spec.origin:
                jedi_dir = Path(spec.origin).parent
                typeshed = jedi_dir / "third_party" / "typeshed"
                dirs += [str(jedi_dir / "inference" / "compiled" / "subprocess"), str(typeshed / "stdlib")]
                stubs = typeshed / "stubs"
                dirs += [str(d) for d in stubs.iterdir()] if stubs.is_dir() else []
            self._env_dirs = dirs
        return self._env_dirs

    # -- Jedi itself ----------------------------------------------------------------------
    def _project(self) -> jedi.Project | None:
        if not self.use_jedi:
            return None
        if self.project is None:
            try:
                import jedi

                # Compiled extensions inside the checked tree are never imported to inspect them
                # (Jedi's default, spelled out: reading code never runs code).
                kwargs: dict[str, Any] = {"load_unsafe_extensions": False}
                if self._modules.extra_paths:
                    kwargs["added_sys_path"] = [str(p) for p in self._modules.extra_paths]
                if self.interpreter:
                    kwargs["environment_path"] = self.interpreter
                self.project = jedi.Project(self._modules.root or Path.cwd(), **kwargs)
            except Exception as exc:  # a broken interpreter setting must not break analysis
                log.warning("jedi unavailable: %s", exc)
                self.use_jedi = False
                return None
        return self.project

    def _goto(self, model: SemanticModel, node: ast.AST) -> list[Any]:
        project = self._project()
        if project is None:
            return []
        import jedi

        try:
            entry = self._scripts.get(id(model))
            if entry is None or entry[0] is not model:
                entry = (
                    model,
                    None
                    if _long_lines(model)
                    else jedi.Script(model.source.text, path=model.source.path, project=project),
                )
                if len(self._scripts) > 16:  # edits make new models: keep the recent ones
                    self._scripts.pop(next(iter(self._scripts)))
                self._scripts[id(model)] = entry
            script = entry[1]
            end_line, end_col = getattr(node, "end_lineno", None), getattr(node, "end_col_offset", None)
            if script is None or end_line is None or end_col is None:
                return []
            col = len(model.source.lines[end_line - 1].encode("utf-8")[:end_col].decode("utf-8", "ignore"))
            return list(script.goto(end_line, max(col - 1, 0), follow_imports=True))
        except Exception as exc:
            log.debug("jedi goto failed: %s", exc)
            return []


def _long_lines(model: SemanticModel) -> bool:
    # parso's diff parser (Jedi re-parses an edited file through it) takes time quadratic in
    # the length of a comment line: 2.5 s at 20,000 characters. Such files go without Jedi.
    return any(len(line) > _MAX_JEDI_LINE for line in model.source.lines)


def _same_environment() -> bool:
    """Is Jedi's default environment this interpreter's? (Jedi takes $VIRTUAL_ENV, else
    $CONDA_PREFIX, else the running interpreter.)"""
    for var in ("VIRTUAL_ENV", "CONDA_PREFIX"):
        value = os.environ.get(var)
        if value:
            return os.path.realpath(value) == os.path.realpath(sys.prefix)
    return True


def _bound_names(model: SemanticModel) -> frozenset[str] | None:
    """Every name the file binds anywhere; None when a star import may bind any. (From the
    model's nodes by type: no walk of the tree.)"""
    of: Callable[..., list[Any]] = model.nodes_of  # typed per AST class below
    out: set[str] = set()
    for node in [*of(ast.Import), *of(ast.ImportFrom)]:
        for alias in node.names:
            if alias.name == "*":
                return None
            out.add(alias.asname or alias.name.split(".")[0])
    out.update(n.id for n in of(ast.Name) if not isinstance(n.ctx, ast.Load))
    out.update(n.name for n in [*of(ast.FunctionDef), *of(ast.AsyncFunctionDef), *of(ast.ClassDef)])
    out.update(a.arg for a in of(ast.arg))
    out.update(name for n in [*of(ast.Global), *of(ast.Nonlocal)] for name in n.names)
    out.update(n.name for n in [*of(ast.ExceptHandler), *of(ast.MatchAs), *of(ast.MatchStar)] if n.name)
    out.update(n.rest for n in of(ast.MatchMapping) if n.rest)
    return frozenset(out)


def _small(path: object) -> bool:
    try:
        return Path(str(path)).stat().st_size < MAX_MODULE_BYTES
    except OSError:
        return False
