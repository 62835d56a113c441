"""Module names <-> workspace files: which file `import pkg.mod` reads, the module name of a
file, and the workspace's Python files (where importers are looked for)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from .documents import DocumentStore, norm_path

_FILE_LIST_TTL = 10.0  # seconds; new files show up in callers' lookups after this
_MAX_SCANNED_FILES = 5_000
_SKIP_DIRS = {"__pycache__", "node_modules", "venv", "site-packages", "build", "dist"}
# Packages we never open: their APIs are known by name (torchapi) and parsing them is slow.
OPAQUE_TOPS = {"torch", "numpy", "np", "torchvision", "typing", "os", "sys", "math", "collections", "functools"}


class ModuleResolver:
    def __init__(self, root: Path | None, extra_paths: list[Path], documents: DocumentStore):
        self.root = root
        self.extra_paths = extra_paths
        self._documents = documents
        self._files: tuple[float, list[str]] | None = None
        self._module_paths: dict[tuple[str, str], Path | None] = {}  # (importer, dotted) -> file
        self._roots: dict[str, list[Path]] = {}  # importer -> search_roots
        self.scanned = False  # the current analysis listed the workspace's files (importers)

    def forget_misses(self) -> None:
        # Lookups that found nothing are re-tried; forgetting them on every edit would make each
        # analysis stat every candidate path of every unresolved import again.
        self._module_paths = {k: v for k, v in self._module_paths.items() if v is not None}

    def module_name(self, path: Path) -> str | None:
        base = self.root if self.root and is_relative(path, self.root) else path.parent
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

    def search_roots(self, importer_path: str) -> list[Path]:
        """Where `import x` from `importer_path` is looked for, in order (as sys.path would)."""
        if importer_path not in self._roots:
            here = Path(importer_path).resolve().parent
            # Above the importer's own directory (a script's sys.path[0]), a directory that is
            # itself a package (it holds `__init__.py`) is no import root: `tests/ignite/` is
            # `tests.ignite` when `tests/` is a package, and `import ignite` finds the project's
            # own `ignite/` (pytest puts the first directory above the packages on sys.path).
            above = [p for p in here.parents if self.root and is_relative(p, self.root)]
            roots = [here, *[p for p in above if not (p / "__init__.py").is_file()]]
            if self.root:
                roots += [self.root, self.root / "src"]
            roots += self.extra_paths
            self._roots[importer_path] = list(dict.fromkeys(roots))
        return self._roots[importer_path]

    def find_module(self, dotted: str, importer_path: str) -> Path | None:
        """A workspace file for module `dotted`, searched like sys.path would from the importer."""
        if dotted.split(".")[0] in OPAQUE_TOPS:
            return None
        key = (importer_path, dotted)
        if key in self._module_paths:
            return self._module_paths[key]
        found = None
        rel = Path(*dotted.split("."))
        overlays = self._documents.overlays
        for r in self.search_roots(importer_path):
            for candidate in (r / rel.with_suffix(".py"), r / rel / "__init__.py"):
                if candidate.is_file() or (overlays and norm_path(str(candidate)) in overlays):
                    found = candidate
                    break
            if found:
                break
        self._module_paths[key] = found
        return found

    def python_files(self) -> list[str]:
        """The workspace's Python files, listed at most once per `_FILE_LIST_TTL`."""
        now = time.monotonic()
        if self._files is not None and now - self._files[0] < _FILE_LIST_TTL:
            return self._files[1]
        files: list[str] = []
        for dirpath, dirnames, filenames in os.walk(self.root) if self.root is not None else ():
            dirnames[:] = [d for d in dirnames if d not in _SKIP_DIRS and not d.startswith(".")]
            files.extend(os.path.join(dirpath, f) for f in filenames if f.endswith(".py"))
            if len(files) > _MAX_SCANNED_FILES:
                break
        files = [norm_path(f) for f in files[:_MAX_SCANNED_FILES]]
        files += [p for p in self._documents.overlays if p.endswith(".py")]
        self._files = (now, sorted(set(files)))
        return self._files[1]

    def scanned_files(self) -> list[str] | None:
        """The file list, when the current analysis looked for importers in it."""
        return self._files[1] if self.scanned and self._files is not None else None

    def inside_root(self, path: Path) -> bool:
        return self.root is not None and is_relative(path.resolve(), self.root) and "site-packages" not in path.parts


def is_relative(path: Path, root: Path) -> bool:
    try:
        path.relative_to(root)
        return True
    except ValueError:
        return False
