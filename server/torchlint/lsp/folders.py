"""Workspace folders and their settings: one configuration per folder, as ruff and Pylance do.

Each folder has its own `torchlint` settings (pulled with `workspace/configuration`, scope =
the folder), its own pyproject.toml discovery (the nearest one above the folder) and so its own
`Config`. A document is analysed with the settings of the folder that holds it (the longest
matching folder path); a document outside every folder uses the first folder's. Without any
folder (or root) there is one pseudo-folder with `uri == ""` and no path: the global settings.

Pure: no pygls here, so the choice of folder is testable on its own.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import Config

GLOBAL = ""  # the key of the pseudo-folder used when the client names no folder and no root


@dataclass(frozen=True)
class Folder:
    uri: str  # as the client sent it (GLOBAL for the pseudo-folder)
    name: str
    path: Path | None  # absolute; None for the pseudo-folder
    settings: dict[str, Any] = field(
        default_factory=dict, compare=False
    )  # the client's `torchlint` section for this scope
    config: Config = field(default_factory=Config, compare=False)
    generation: int = 0  # changes whenever `config` does (and differs between folders)

    def holds(self, path: str) -> int:
        """Length of the folder path when `path` is inside it (the longer, the better the match), else -1."""
        if self.path is None:
            return -1
        best = -1
        for base in _forms(str(self.path)):
            if path == base or path.startswith(base.rstrip(os.sep) + os.sep):
                best = max(best, len(base))
        return best


def _forms(path: str) -> list[str]:
    """The path as given and with its symlinks resolved (a document may be opened through either)."""
    a = os.path.normcase(os.path.abspath(path))
    r = os.path.normcase(os.path.realpath(path))
    return [a] if a == r else [a, r]


def folder_for(folders: Iterable[Folder], path: str | None) -> Folder | None:
    """The folder holding `path` (longest match), else the first folder; None when there is none."""
    folders = list(folders)
    if not folders:
        return None
    if path:
        best, best_len = None, -1
        for candidate in _forms(path):
            for f in folders:
                n = f.holds(candidate)
                if n > best_len:
                    best, best_len = f, n
            if best is not None:
                return best
    return folders[0]
