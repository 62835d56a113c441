"""The files around the one being analysed: module lookup, cross-file resolution, Jedi.

One `Workspace` lives as long as the CLI run or the language server. It parses
each imported workspace module once per content, remembers which files used
which (so an editor can re-analyse dependants), and keeps one Jedi project.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import logging
import os
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from .resolve import ClassInfo, FunctionRef, SemanticModel
from .source import SourceFile, UnreadableFile, decode, reparse

if TYPE_CHECKING:
    import jedi

    from .incremental import Snapshot

log = logging.getLogger("torchlint")

_MAX_MODULE_BYTES = 2_000_000
_MAX_JEDI_LINE = 3_000  # characters: a file with a longer line is resolved without Jedi
_MAX_SCANNED_FILES = 5_000
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
_FILE_LIST_TTL = 10.0  # seconds; new files show up in callers' lookups after this
_SKIP_DIRS = {"__pycache__", "node_modules", "venv", "site-packages", "build", "dist"}
# Packages we never open: their APIs are known by name (torchapi) and parsing them is slow.
_OPAQUE_TOPS = {"torch", "numpy", "np", "torchvision", "typing", "os", "sys", "math", "collections", "functools"}


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
        self.use_jedi = use_jedi
        self._overlays: dict[str, str] = {}
        self._models: dict[str, tuple[str, SemanticModel]] = {}  # path -> (digest, model)
        self._sources: dict[str, SourceFile] = {}  # path -> its last parse, the base of the next (reparse)
        self._snapshots: dict[str, Snapshot] = {}  # path -> what its last analysis left (editor path)
        self._scanned = False  # the current analysis listed the workspace's files (importers)
        self._recorders: list[set[str]] = []  # paths read while a kept summary is made
        self._checked: dict[str, object] = {}  # path -> its model, looked up in this analysis
        self._disk: dict[str, tuple[tuple[int, int], SemanticModel]] = {}  # unopened files by (mtime, size)
        self._texts: dict[str, tuple[tuple[int, int], str]] = {}
        self._files: tuple[float, list[str]] | None = None
        self._module_paths: dict[tuple[str, str], Path | None] = {}
        self._deps: dict[str, set[str]] = {}  # analysed path -> workspace paths it used
        self._current: str | None = None
        self._jedi_project: jedi.Project | None = None
        self._jedi_cache: dict[tuple, set[str]] = {}
        self._jedi_fn_cache: dict[tuple, FunctionRef | None] = {}
        self._jedi_scripts: dict[int, tuple[SemanticModel, jedi.Script | None]] = {}
        self.lock = threading.RLock()

    # -- documents ---------------------------------------------------------------
    def set_overlay(self, path: str, text: str | None) -> None:
        key = _norm(path)
        if text is None:
            self._overlays.pop(key, None)
        else:
            if key not in self._overlays and not os.path.isfile(key):
                self._forget_misses()  # an unsaved new module: imports of it may resolve now
            self._overlays[key] = text

    def invalidate(self, path: str) -> None:
        key = _norm(path)
        self._snapshots.pop(key, None)
        known = key in self._overlays or key in self._disk or key in self._texts or key in self._models
        self._models.pop(key, None)
        self._disk.pop(key, None)
        if not known:
            self._forget_misses()  # a file never read before may be new

    def _forget_misses(self) -> None:
        # Lookups that found nothing are re-tried; forgetting them on every edit would make each
        # analysis stat every candidate path of every unresolved import again.
        self._module_paths = {k: v for k, v in self._module_paths.items() if v is not None}

    def dependents(self, path: str) -> set[str]:
        key = _norm(path)
        return {p for p, used in self._deps.items() if key in used and p != key}

    def begin(self, path: str) -> None:
        """Start recording which workspace files the analysis of `path` reads."""
        self._current = _norm(path)
        self._deps[self._current] = set()
        self._scanned = False
        self._checked = {}

    # -- what an incremental analysis may keep ------------------------------------------
    def take_snapshot(self, path: str) -> Snapshot | None:
        return self._snapshots.pop(_norm(path), None)

    def keep_snapshot(self, path: str, snap: Snapshot | None) -> None:
        if snap is not None:
            self._snapshots[_norm(path)] = snap

    def unchanged_since(self, deps: dict[str, object], files: list[str] | None) -> bool:
        """Do the files an earlier analysis read still have the models it read?"""
        if files is not None and self._python_files() != files:
            return False  # a new file may import (and call into) the analysed one
        return all(p == self._current or self._current_model(p) is m for p, m in deps.items())

    def add_dependencies(self, path: str, deps: dict[str, object]) -> None:
        self._deps.setdefault(_norm(path), set()).update(deps)

    def dependency_models(self, path: str) -> dict[str, object]:
        out: dict[str, object] = {}
        for p in self._deps.get(_norm(path), ()):
            hit = self._models.get(p)
            out[p] = hit[1] if hit else None
        return out

    def reads(self, path: str) -> set[str]:
        """The workspace files the last analysis of `path` read (what its cross-file facts rest on)."""
        return set(self._deps.get(_norm(path), ()))

    def python_files(self) -> list[str]:
        """The workspace's Python files (where importers are looked for)."""
        return self._python_files()

    def scanned_files(self) -> list[str] | None:
        """The workspace's file list, when the current analysis looked for importers in it."""
        return self._files[1] if self._scanned and self._files is not None else None

    def _used(self, path: str) -> None:
        if self._current is not None:
            self._deps.setdefault(self._current, set()).add(path)
        for recorder in self._recorders:
            recorder.add(path)

    # -- summaries of other files' functions, across analyses ----------------------------
    def start_recording(self) -> None:
        self._recorders.append(set())

    def stop_recording(self) -> set[str]:
        return self._recorders.pop()

    def kept_summary(self, ref: FunctionRef):
        """The summary of `ref` (a function of another file) made by an earlier analysis, if
        every file it read still has the model it read then."""
        hit = ref.model.kept_summaries.get(id(ref.node))
        if hit is None or hit[0] is not ref.node:
            return None
        if all(self._current_model(p) is m for p, m in hit[2].items()):
            return hit[1]
        del ref.model.kept_summaries[id(ref.node)]
        return None

    def keep_summary(self, ref: FunctionRef, summary, read: set[str]) -> None:
        paths = read | {_norm(ref.model.source.path)}
        if self._current in paths:
            return  # it rests on the file being analysed, which the next edit changes
        models = {p: self._models[p][1] if p in self._models else None for p in paths}
        # kept on the callee's model: replaced with it when that file changes
        ref.model.kept_summaries[id(ref.node)] = (ref.node, summary, models)

    def _current_model(self, path: str):
        """The model of `path` now (checked once per analysis: a stat, or the editor's text)."""
        if path not in self._checked:
            self._checked[path] = self.model_for_path(Path(path))
        return self._checked[path]

    # -- models ------------------------------------------------------------------
    def source_for_text(self, path: str, text: str) -> SourceFile:
        """The parse of `text`, from the last parse of `path` when there is one (`reparse`)."""
        key = _norm(path)
        base = self._sources.get(key)
        if base is not None and base.text == text:
            return base
        self._sources.pop(key, None)
        if base is not None:
            # its nodes move into the new tree: the models built on it are gone
            self._disk.pop(key, None)
            self._models.pop(key, None)
        source = reparse(base, path, text)
        self._sources[key] = source
        return source

    def model_for_text(self, path: str, text: str, fresh: bool = False) -> SemanticModel:
        """The semantic model of `path` with this text. `fresh`: a new one even when the text
        has not changed (its answers may rest on other files, which may have)."""
        key = _norm(path)
        digest = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()
        cached = self._models.get(key)
        if cached and cached[0] == digest and not fresh:
            return cached[1]
        model = SemanticModel(self.source_for_text(path, text), self, self.module_name(Path(key)))
        self._models[key] = (digest, model)
        return model

    def model_for_path(self, path: Path) -> SemanticModel | None:
        key = _norm(str(path))
        self._used(key)
        text = self._overlays.get(key)
        if text is not None:
            return self.model_for_text(key, text)
        try:
            st = path.stat()
        except OSError:
            return None
        stamp = (st.st_mtime_ns, st.st_size)
        hit = self._disk.get(key)
        if hit is not None and hit[0] == stamp:
            return hit[1]
        if st.st_size > _MAX_MODULE_BYTES:
            return None
        try:
            text = decode(path.read_bytes())
        except (OSError, UnreadableFile):
            return None
        model = self.model_for_text(key, text)
        self._disk[key] = (stamp, model)
        return model

    def module_name(self, path: Path) -> str | None:
        base = self.root if self.root and _is_relative(path, self.root) else path.parent
        try:
            rel = path.with_suffix("").relative_to(base)
        except ValueError:
            return path.stem
        parts = list(rel.parts)
        if parts and parts[-1] == "__init__":
            parts.pop()
        if parts and parts[0] == "src":
            parts.pop(0)
        return ".".join(parts) or path.stem

    # -- who imports a module ---------------------------------------------------------
    def importer_models(self, model: SemanticModel, name: str) -> list[SemanticModel]:
        """Workspace files that may call `name` from `model`'s module (a cheap text filter
        first: they mention both the module and the name), parsed."""
        if self.root is None or not model.module_name:
            return []
        module_last = model.module_name.rsplit(".", 1)[-1]
        me = _norm(model.source.path)
        self._scanned = True
        out = []
        for path in self._python_files():
            if path == me:
                continue
            text = self._text(path)
            if text is None or name not in text or module_last not in text:
                continue
            other = self.model_for_path(Path(path))
            if other is not None:
                out.append(other)
        return out

    def _python_files(self) -> list[str]:
        now = time.monotonic()
        if self._files is not None and now - self._files[0] < _FILE_LIST_TTL:
            return self._files[1]
        files: list[str] = []
        for dirpath, dirnames, filenames in os.walk(self.root):
            dirnames[:] = [d for d in dirnames if d not in _SKIP_DIRS and not d.startswith(".")]
            files.extend(os.path.join(dirpath, f) for f in filenames if f.endswith(".py"))
            if len(files) > _MAX_SCANNED_FILES:
                break
        files = [_norm(f) for f in files[:_MAX_SCANNED_FILES]] + [p for p in self._overlays if p.endswith(".py")]
        self._files = (now, sorted(set(files)))
        return self._files[1]

    def _text(self, path: str) -> str | None:
        if path in self._overlays:
            return self._overlays[path]
        try:
            st = os.stat(path)
            stamp = (st.st_mtime_ns, st.st_size)
            hit = self._texts.get(path)
            if hit is not None and hit[0] == stamp:
                return hit[1]
            if st.st_size > _MAX_MODULE_BYTES:
                return None
            with open(path, "rb") as fh:
                text = decode(fh.read())
        except (OSError, UnreadableFile):
            return None
        self._texts[path] = (stamp, text)
        return text

    # -- module lookup --------------------------------------------------------------
    def find_module(self, dotted: str, importer: SemanticModel) -> Path | None:
        """A workspace file for module `dotted`, searched like sys.path would from the importer."""
        if dotted.split(".")[0] in _OPAQUE_TOPS:
            return None
        key = (importer.source.path, dotted)
        if key in self._module_paths:
            return self._module_paths[key]
        here = Path(importer.source.path).resolve().parent
        roots = [here, *[p for p in here.parents if self.root and _is_relative(p, self.root)]]
        if self.root:
            roots += [self.root, self.root / "src"]
        roots += self.extra_paths
        found = None
        rel = Path(*dotted.split("."))
        for r in dict.fromkeys(roots):
            for candidate in (r / rel.with_suffix(".py"), r / rel / "__init__.py"):
                if candidate.is_file() or _norm(str(candidate)) in self._overlays:
                    found = candidate
                    break
            if found:
                break
        self._module_paths[key] = found
        return found

    def _split_qualname(self, qualname: str, importer: SemanticModel) -> tuple[SemanticModel, str] | None:
        """`pkg.mod.Name` -> (model of pkg/mod.py, "Name"), trying the longest module prefix."""
        parts = qualname.split(".")
        for i in range(len(parts) - 1, 0, -1):
            path = self.find_module(".".join(parts[:i]), importer)
            if path is not None:
                model = self.model_for_path(path)
                if model is None:
                    return None
                return model, ".".join(parts[i:])
        return None

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
            return self._jedi_function(qualname, importer)
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
    def _jedi(self):
        if not self.use_jedi:
            return None
        if self._jedi_project is None:
            try:
                import jedi

                # Compiled extensions inside the checked tree are never imported to inspect them
                # (Jedi's default, spelled out: reading code never runs code).
                kwargs: dict = {"load_unsafe_extensions": False}
                if self.extra_paths:
                    kwargs["added_sys_path"] = [str(p) for p in self.extra_paths]
                if self.interpreter:
                    kwargs["environment_path"] = self.interpreter
                self._jedi_project = jedi.Project(self.root or Path.cwd(), **kwargs)
            except Exception as exc:  # a broken interpreter setting must not break analysis
                log.warning("jedi unavailable: %s", exc)
                self.use_jedi = False
                return None
        return self._jedi_project

    def _jedi_goto(self, model: SemanticModel, node: ast.AST):
        project = self._jedi()
        if project is None:
            return []
        import jedi

        try:
            script = self._jedi_scripts.get(id(model))
            if script is None or script[0] is not model:
                # parso's diff parser (Jedi re-parses an edited file through it) takes time
                # quadratic in the length of a comment line: 2.5 s at 20,000 characters
                long_lines = any(len(line) > _MAX_JEDI_LINE for line in model.source.lines)
                script = (
                    model,
                    None if long_lines else jedi.Script(model.source.text, path=model.source.path, project=project),
                )
                if len(self._jedi_scripts) > 16:  # edits make new models: keep the recent ones
                    self._jedi_scripts.pop(next(iter(self._jedi_scripts)))
                self._jedi_scripts[id(model)] = script
            script = script[1]
            if script is None:
                return []
            col = len(
                model.source.lines[node.end_lineno - 1].encode("utf-8")[: node.end_col_offset].decode("utf-8", "ignore")
            )
            return script.goto(node.end_lineno, max(col - 1, 0), follow_imports=True)
        except Exception as exc:
            log.debug("jedi goto failed: %s", exc)
            return []

    def jedi_base_qualnames(self, model: SemanticModel, base: ast.AST) -> set[str]:
        """Ancestors of a class base that neither the AST nor the workspace could resolve."""
        key = (
            "base",
            model.source.path,
            getattr(base, "lineno", 0),
            getattr(base, "col_offset", 0),
            model.source.text.__hash__(),
        )
        if key in self._jedi_cache:
            return self._jedi_cache[key]
        self._jedi_cache[key] = set()
        out: set[str] = set()
        for name in self._jedi_goto(model, base):
            if name.type != "class" or name.module_path is None:
                continue
            if name.full_name:
                out.add(name.full_name)
            other = self.model_for_path(Path(name.module_path)) if _small(name.module_path) else None
            if other is not None and name.name in other.classes:
                info = other.class_info(name.name)
                out |= other.class_bases_closure(info)
        self._jedi_cache[key] = out
        return out

    def jedi_class(self, model: SemanticModel, expr: ast.AST, qualname: str) -> ClassInfo | None:
        """A class defined outside the workspace (an installed package), found by Jedi."""
        key = ("class", model.source.path, qualname)
        if key in self._jedi_fn_cache:
            return self._jedi_fn_cache[key]  # type: ignore[return-value]
        found = None
        for name in self._jedi_goto(model, expr):
            if name.type == "class" and name.module_path is not None and _small(name.module_path):
                other = self.model_for_path(Path(name.module_path))
                if other is not None and name.name in other.classes:
                    found = other.class_info(name.name)
                    break
        self._jedi_fn_cache[key] = found  # type: ignore[assignment]
        return found

    def _jedi_function(self, qualname: str, importer: SemanticModel) -> FunctionRef | None:
        head = qualname.split(".")[0]
        if head in _OPAQUE_TOPS or head in _THIRD_PARTY or head in sys.stdlib_module_names:
            return None
        if importer.import_nodes.get(qualname.split(".")[-1]) is None:
            return None
        node = importer.import_nodes[qualname.split(".")[-1]]
        key = ("fn", importer.source.path, qualname)
        if key in self._jedi_fn_cache:
            return self._jedi_fn_cache[key]
        result: FunctionRef | None = None
        for alias in getattr(node, "names", []):
            if (alias.asname or alias.name) != qualname.split(".")[-1]:
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
            for name in self._jedi_goto(importer, fake):
                if name.type == "function" and name.module_path and self._inside_root(Path(name.module_path)):
                    other = self.model_for_path(Path(name.module_path))
                    if other and name.name in other.functions:
                        result = FunctionRef(other.functions[name.name], other)
        self._jedi_fn_cache[key] = result
        return result

    def _inside_root(self, path: Path) -> bool:
        return self.root is not None and _is_relative(path.resolve(), self.root) and "site-packages" not in path.parts


@functools.lru_cache(maxsize=8192)
def _norm(path: str) -> str:
    try:
        return str(Path(path).resolve())
    except OSError:
        return path


def _is_relative(path: Path, root: Path) -> bool:
    try:
        path.relative_to(root)
        return True
    except ValueError:
        return False


def _small(path) -> bool:
    try:
        return Path(path).stat().st_size < _MAX_MODULE_BYTES
    except OSError:
        return False
