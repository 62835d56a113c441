"""The settings the server runs with: the client's (initializationOptions, pushed or pulled
`torchlint` sections, workspace trust) and every workspace folder's configuration built from
them (`folders.py`). Replaced as a whole on the loop, read by the worker too."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from pygls.uris import to_fs_path

from .folders import GLOBAL, Folder, folder_for
from .settings import ServerOptions, build_config, overfit_settings

FolderListing = list[tuple[str, str, Path | None]]  # (uri, name, path) of every folder, in the client's order


class Configuration:
    def __init__(self) -> None:
        self.options = ServerOptions()
        self.init_settings: dict[str, Any] = {}
        self.trusted = True  # the client's `workspaceTrusted` (VS Code's Restricted Mode sends false)
        self.pushed_settings: dict[str, Any] = {}  # didChangeConfiguration's settings, for clients that cannot be asked
        self.shown_problems: set[str] = set()
        # Every workspace folder with its own settings and configuration, in the client's order
        # (the first one also serves documents outside every folder), and which folder each
        # document belongs to.
        self._folders: tuple[dict[str, Folder], dict[str, str]] = ({GLOBAL: Folder(GLOBAL, "", None)}, {})
        self.generation = 0  # the last configuration generation handed out (each folder has its own)
        self.updating = asyncio.Lock()  # one settings update at a time

    @property
    def folders(self) -> dict[str, Folder]:
        return self._folders[0]

    def default_folder(self) -> Folder:
        """The first workspace folder: its settings also apply to documents outside every folder."""
        return next(iter(self.folders.values()))

    def folder_of(self, uri: str) -> Folder:
        """The workspace folder whose settings apply to `uri` (longest matching path, else the first)."""
        folders, cache = self._folders
        key = cache.get(uri)
        if key is None or key not in folders:
            path = to_fs_path(uri) if uri.startswith("file:") else None
            key = (folder_for(folders.values(), path) or self.default_folder()).uri
            cache[uri] = key
        return folders[key]

    def overfit_settings(self, uri: str | None = None) -> dict[str, Any]:
        """The overfit command's settings: those of the folder of the script it runs."""
        folder = self.folder_of(uri) if uri else self.default_folder()
        return overfit_settings(folder.config, client_ui=self.init_settings.get("clientOverfitUi") is True)

    def rebuild(self, listed: FolderListing, settings: dict[str, dict[str, Any]] | None) -> tuple[list[str], bool]:
        """Rebuild every listed folder's configuration from `settings` (folder uri -> the client's
        `torchlint` section for it; missing: what the folder had, else the pushed settings). A
        folder whose configuration is unchanged keeps its generation. Returns the problems found
        and whether a folder went away."""
        old = self.folders
        new: dict[str, Folder] = {}
        problems: list[str] = []
        for uri, name, path in listed:
            prev = old.get(uri)
            layer = (settings or {}).get(uri)
            if layer is None:
                layer = prev.settings if prev is not None else self.pushed_settings
            config, found = build_config(path, self.init_settings, layer, trusted=self.trusted)
            if prev is not None and prev.config == config:
                config, generation = prev.config, prev.generation  # same object: the checker keeps its state
            else:
                self.generation += 1
                generation = self.generation
            new[uri] = Folder(uri, name, path, dict(layer), config, generation)
            for p in found:
                if len(listed) > 1 and p.startswith("torchlint settings:"):
                    p = f"torchlint settings of folder {name or uri}:{p[len('torchlint settings:') :]}"
                if p not in problems:
                    problems.append(p)
        self._folders = (new, {})
        self.options = ServerOptions()
        self.options.update(self.init_settings)
        self.options.update(self.default_folder().settings)
        return problems, bool(set(old) - set(new))
