"""The files around the one being analysed, as one object the analysis and the rules ask.

One `Workspace` lives as long as the CLI run or the language server. It composes:
- `documents.DocumentStore`: the editor's texts over the files on disk, and their parses;
- `modules.ModuleResolver`: module name <-> file, the workspace's Python files;
- `database.AnalysisDatabase`: the model of each file per content, what each analysis read and
  at which revision, snapshots for the editor's partial re-analysis, kept summaries;
- `jedi_bridge.JediBridge`: Jedi, where none of the above can tell.
"""

from __future__ import annotations

import ast
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .database import AnalysisDatabase, Revision
from .documents import DocumentStore, norm_path
from .jedi_bridge import JediBridge
from .modules import ModuleResolver
from .resolve import ClassInfo, FunctionRef, SemanticModel
from .source import SourceFile

if TYPE_CHECKING:
    from .incremental import Snapshot


class Workspace:
    def __init__(
        self,
        root: Path | str | None = None,
        interpreter: str | None = None,
        use_jedi: bool = True,
        extra_paths: tuple[str, ...] = (),
    ):
        self.root = Path(root).resolve() if root else None
        self.extra_paths = [
            Path(p) if Path(p).is_absolute() or self.root is None else self.root / p for p in extra_paths
        ]
        self.interpreter = interpreter
        self.documents = DocumentStore()
        self.modules = ModuleResolver(self.root, self.extra_paths, self.documents)
        self.db = AnalysisDatabase(self.documents, self._new_model)
        self.jedi = JediBridge(self.modules, self.db.model_for_path, interpreter, use_jedi)
        self.lock = threading.RLock()

    def _new_model(self, source: SourceFile, key: str) -> SemanticModel:
        return SemanticModel(source, self, self.modules.module_name(Path(key)))

    @property
    def use_jedi(self) -> bool:
        return self.jedi.use_jedi

    @use_jedi.setter
    def use_jedi(self, value: bool) -> None:
        self.jedi.use_jedi = value

    @property
    def _jedi_project(self) -> Any:  # a jedi.Project
        return self.jedi.project  # tests put a differently configured project in

    @_jedi_project.setter
    def _jedi_project(self, project: Any) -> None:
        self.jedi.project = project

    # -- documents ---------------------------------------------------------------
    def set_overlay(self, path: str, text: str | None) -> None:
        key = norm_path(path)
        if text is not None and key not in self.documents.overlays and not Path(key).is_file():
            self.modules.forget_misses()  # an unsaved new module: imports of it may resolve now
        self.documents.set_overlay(key, text)
        self.db.changed(key)

    def invalidate(self, path: str) -> None:
        key = norm_path(path)
        known = self.documents.knows(key)
        self.documents.changed(key)
        if not self.db.forget(key) and not known:
            self.modules.forget_misses()  # a file never read before may be new

    def dependents(self, path: str) -> set[str]:
        return self.db.dependents(norm_path(path))

    def begin(self, path: str) -> None:
        """Start recording which workspace files the analysis of `path` reads."""
        self.db.begin(norm_path(path))
        self.documents.begin()
        self.modules.scanned = False

    # -- what an incremental analysis may keep ------------------------------------------
    def take_snapshot(self, path: str) -> Snapshot | None:
        return self.db.take_snapshot(norm_path(path))

    def keep_snapshot(self, path: str, snap: Snapshot | None) -> None:
        self.db.keep_snapshot(norm_path(path), snap)

    def unchanged_since(self, deps: dict[str, Any], files: list[str] | None) -> bool:
        """Do the files an earlier analysis read still have the revisions it read?"""
        if files is not None and self.modules.python_files() != files:
            return False  # a new file may import (and call into) the analysed one
        return self.db.unchanged_since(deps)

    def add_dependencies(self, path: str, deps: dict[str, Any]) -> None:
        self.db.add_dependencies(norm_path(path), deps)

    def dependency_models(self, path: str) -> dict[str, Revision]:
        """What `unchanged_since` compares: the revision of each file the analysis read."""
        return self.db.dependency_revisions(norm_path(path))

    def reads(self, path: str) -> set[str]:
        """The workspace files the last analysis of `path` read (what its cross-file facts rest on)."""
        return self.db.reads(norm_path(path))

    def python_files(self) -> list[str]:
        """The workspace's Python files (where importers are looked for)."""
        return self.modules.python_files()

    def scanned_files(self) -> list[str] | None:
        """The workspace's file list, when the current analysis looked for importers in it."""
        return self.modules.scanned_files()

    # -- summaries of other files' functions, across analyses ----------------------------
    def start_recording(self) -> None:
        self.db.start_recording()

    def stop_recording(self) -> set[str]:
        return self.db.stop_recording()

    def kept_summary(self, ref: FunctionRef) -> Any:
        return self.db.kept_summary(ref)

    def keep_summary(self, ref: FunctionRef, summary: Any, read: set[str]) -> None:
        self.db.keep_summary(ref, summary, read)

    # -- models ------------------------------------------------------------------
    def source_for_text(self, path: str, text: str) -> SourceFile:
        return self.db.source_for_text(path, text)

    def model_for_text(self, path: str, text: str, fresh: bool = False) -> SemanticModel:
        return self.db.model_for_text(path, text, fresh)

    def model_for_path(self, path: Path) -> SemanticModel | None:
        return self.db.model_for_path(path)

    def module_name(self, path: Path) -> str | None:
        return self.modules.module_name(path)

    # -- who imports a module ---------------------------------------------------------
    def importer_models(self, model: SemanticModel, name: str) -> list[SemanticModel]:
        """Workspace files that may call `name` from `model`'s module (a cheap filter first:
        they name both the module and the function, as identifiers), parsed."""
        if self.root is None or not model.module_name:
            return []
        module_last = model.module_name.rsplit(".", 1)[-1]
        me = norm_path(model.source.path)
        self.modules.scanned = True
        out = []
        for path in self.modules.python_files():
            if path == me:
                continue
            words = self.documents.words(path)
            if words is None or name not in words or module_last not in words:
                continue
            other = self.db.model_for_path(Path(path))
            if other is not None:
                out.append(other)
        return out

    # -- module lookup --------------------------------------------------------------
    def find_module(self, dotted: str, importer: SemanticModel) -> Path | None:
        """A workspace file for module `dotted`, searched like sys.path would from the importer."""
        return self.modules.find_module(dotted, importer.source.path)

    def _split_qualname(self, qualname: str, importer: SemanticModel) -> tuple[SemanticModel, str] | None:
        """`pkg.mod.Name` -> (model of pkg/mod.py, "Name"), trying the longest module prefix."""
        parts = qualname.split(".")
        for i in range(len(parts) - 1, 0, -1):
            path = self.find_module(".".join(parts[:i]), importer)
            if path is not None:
                model = self.db.model_for_path(path)
                if model is None:
                    return None
                return model, ".".join(parts[i:])
        return None

    def owns(self, qualname: str, importer: SemanticModel, _depth: int = 0) -> bool:
        """Is `qualname` defined in a workspace module, by a statement the AST reads (a class,
        a def, an assignment: `Events.EPOCH_COMPLETED`, a function named like a class)?
        Then `find_class` has said all there is: Jedi would read the same files to find the
        same. Not when it is imported from outside the workspace, nor when a star import may
        bind it."""
        target = self._split_qualname(qualname, importer)
        if target is None:
            return False
        model, name = target
        head, dot, rest = name.partition(".")
        if head in model.imports:
            return _depth < 5 and self.owns(model.imports[head] + dot + rest, model, _depth + 1)
        if head in model.classes or head in model.functions or head in model.bound_names:
            return True
        return not model.star_imports

    def find_class(self, qualname: str, importer: SemanticModel, _depth: int = 0) -> ClassInfo | None:
        target = self._split_qualname(qualname, importer)
        if target is None:
            return None
        model, name = target
        if "." in name:
            return None
        if name in model.classes:
            return model.class_info(name)
        if name in model.imports and _depth < 5:  # re-exported: `from .models import Net`
            return self.find_class(model.imports[name], model, _depth + 1)
        return None

    def find_function(self, qualname: str, importer: SemanticModel, _depth: int = 0) -> FunctionRef | None:
        target = self._split_qualname(qualname, importer)
        if target is None:
            return self.jedi.find_function(qualname, importer)
        model, name = target
        if name in model.functions:
            return FunctionRef(model.functions[name], model)
        if "." in name:  # Class.method
            cls_name, _, meth = name.partition(".")
            info = model.class_info(cls_name)
            return model.find_method(info, meth) if info else None
        if name in model.imports and _depth < 5:
            return self.find_function(model.imports[name], model, _depth + 1)
        return None

    # -- Jedi: only where the AST and the import table cannot tell ---------------------
    def jedi_base_qualnames(self, model: SemanticModel, base: ast.AST) -> set[str]:
        """Ancestors of a class base that neither the AST nor the workspace could resolve."""
        return self.jedi.base_qualnames(model, base)

    def jedi_class(self, model: SemanticModel, expr: ast.AST, qualname: str) -> ClassInfo | None:
        """A class defined outside the workspace (an installed package), found by Jedi."""
        return self.jedi.find_class(model, expr, qualname)
