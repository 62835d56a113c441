"""One analysis engine (`Checker`) per workspace folder, with that folder's configuration.

Created and used on the worker only (the engines hold Jedi, which is not thread-safe). Every
engine sees the open documents' texts (overlays): another folder's files may import them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from ..checker import Checker
from .documents import Documents, fs_path
from .folders import Folder


class Engines:
    def __init__(self, documents: Documents, on_worker: Callable[[], bool]) -> None:
        self._documents = documents
        self._on_worker = on_worker
        self._checkers: dict[str, Checker] = {}  # folder uri -> its checker

    def checker(self, folder: Folder) -> Checker:
        """The engine of `folder`, with the folder's configuration."""
        assert self._on_worker(), "the checker belongs to the analysis thread"
        checker = self._checkers.get(folder.uri)
        if checker is None:
            checker = self._checkers[folder.uri] = Checker(folder.config, folder.path, incremental=True)
            self._set_overlays(checker)
        elif checker.config is not folder.config:
            workspace = checker.workspace
            checker.update_config(folder.config)
            if checker.workspace is not workspace:  # a new interpreter: a new engine workspace
                self._set_overlays(checker)
        return checker

    def __iter__(self) -> Iterator[Checker]:
        return iter(list(self._checkers.values()))

    def set_overlay(self, path: str, text: str | None) -> None:
        """The editor's text of `path` in every engine (None: back to the file on disk)."""
        for checker in self:
            checker.set_overlay(path, text)

    def prune(self, folders: dict[str, Folder]) -> None:
        """Engines of folders that went away go with them."""
        for key in set(self._checkers) - set(folders):
            del self._checkers[key]

    def _set_overlays(self, checker: Checker) -> None:
        for uri, snap in list(self._documents.snapshots.items()):
            checker.set_overlay(fs_path(uri), snap.text)
