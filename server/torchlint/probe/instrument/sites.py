"""Which files are the user's, and the lines of the user's code that built modules and optimizers."""

from __future__ import annotations

import inspect
import os
import sys
import sysconfig
import weakref
from types import FrameType
from typing import Any

import torch

from .state import Site

_LIB_DIRS = sorted(
    {
        os.path.abspath(p)
        for k, p in sysconfig.get_paths().items()
        if k in ("stdlib", "platstdlib", "purelib", "platlib") and p
    }
)
# The probe's own files are never the user's (a checkout of torchlint may lie under the
# script's working directory): so a walk up the stack from inside the probe needs no frame count.
_PROBE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


class Sites:
    """The user's files (the script's folder and the working directory, minus installed
    libraries) and where their code built each module and module class."""

    def __init__(self, script: str) -> None:
        self.script = os.path.abspath(script)
        self.user_roots = {os.path.dirname(self.script), os.getcwd()}
        self.modules: weakref.WeakKeyDictionary[torch.nn.Module, Site] = weakref.WeakKeyDictionary()
        self._classes: dict[type, Site | None] = {}

    def is_user_file(self, path: str) -> bool:
        if not path or path.startswith("<"):
            return False
        path = os.path.abspath(path)
        if path.startswith(_PROBE_DIR):
            return False
        parts = path.split(os.sep)
        if "site-packages" in parts or "dist-packages" in parts:
            return False
        if any(path.startswith(lib + os.sep) for lib in _LIB_DIRS):
            return False
        return any(path == root or path.startswith(root + os.sep) for root in self.user_roots)

    def user_site(self) -> Site | None:
        """Innermost frame of the call stack that lies in the user's files."""
        frame: FrameType | None = sys._getframe(1)
        while frame is not None:
            if self.is_user_file(frame.f_code.co_filename):
                return (os.path.abspath(frame.f_code.co_filename), frame.f_lineno)
            frame = frame.f_back
        return None

    def construction_site(self, obj: Any) -> Site | None:
        """The user's line that built `obj`: the innermost user frame that is not one of obj's own
        __init__ frames (super().__init__() chains), so `model = Net()` rather than the super call."""
        frame: FrameType | None = sys._getframe(1)
        while frame is not None:
            if self.is_user_file(frame.f_code.co_filename) and frame.f_locals.get("self") is not obj:
                return (os.path.abspath(frame.f_code.co_filename), frame.f_lineno)
            frame = frame.f_back
        return None

    def module_site(self, mod: torch.nn.Module) -> Site | None:
        """A module class defined in the user's files -> its class line; else where it was built."""
        mod = getattr(mod, "_orig_mod", mod)  # torch.compile's wrapper -> the user's module
        return self.class_site(type(mod)) or self.modules.get(mod)

    def class_site(self, cls: type) -> Site | None:
        """The `class` line of a module class defined in the user's files (cached per class; taken
        while the script runs: after runpy returns, classes of __main__ have no source file)."""
        if cls in self._classes:
            return self._classes[cls]
        self._classes[cls] = None
        modfile = getattr(sys.modules.get(cls.__module__), "__file__", None)
        if cls.__module__ == "__main__":
            modfile = self.script
        if modfile and self.is_user_file(modfile):
            try:
                _, line = inspect.getsourcelines(cls)
                self._classes[cls] = (os.path.abspath(modfile), line)
            except (OSError, TypeError):
                pass
        return self._classes[cls]
