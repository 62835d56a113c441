"""Workspace folders and settings: each folder's settings pulled from the client (or pushed by
it), its configuration rebuilt when they, the folders or a pyproject.toml change, and the open
documents whose configuration changed analysed again. Files changed on disk invalidate what
was read from them."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lsprotocol import types
from pygls.capabilities import get_capability
from pygls.lsp.server import LanguageServer
from pygls.uris import from_fs_path, to_fs_path

from .configuration import FolderListing
from .documents import fs_path
from .folders import GLOBAL
from .settings import section

if TYPE_CHECKING:
    from .state import State

log = logging.getLogger("torchlint.lsp")


def register(server: LanguageServer, state: State) -> None:
    @server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
    async def did_change_configuration(params: types.DidChangeConfigurationParams) -> None:
        """A client that answers `workspace/configuration` is asked again, for every folder (the
        settings it pushes cannot differ per folder); otherwise its settings apply to all folders.
        Only documents whose configuration changed are analysed (and published) again."""
        settings = params.settings
        if isinstance(settings, dict):
            state.configuration.pushed_settings = (
                dict(settings["torchlint"]) if isinstance(settings.get("torchlint"), dict) else dict(settings)
            )
        await update_folders(server, state)

    @server.feature(types.WORKSPACE_DID_CHANGE_WORKSPACE_FOLDERS)
    async def did_change_workspace_folders(params: types.DidChangeWorkspaceFoldersParams) -> None:
        # pygls has updated `server.workspace.folders` already; documents that move to another
        # folder (or whose folder went away) are analysed again with their new folder's settings
        await update_folders(server, state)

    @server.feature(types.WORKSPACE_DID_CHANGE_WATCHED_FILES)
    def did_change_watched_files(params: types.DidChangeWatchedFilesParams) -> None:
        config_changed = False
        changed: list[str] = []
        for change in params.changes:
            path = fs_path(change.uri)
            if Path(path).name == "pyproject.toml":
                config_changed = True
            elif path.endswith((".py", ".pyi")) and change.uri not in state.documents.snapshots:
                changed.append(path)  # open documents are covered by their own edits
        if changed:

            def refresh() -> None:
                for path in changed:
                    state.scheduler.file_changed(path)

            state.scheduler.run(refresh)
        if config_changed:  # every folder's pyproject.toml read again, with the settings it has
            show_problems(server, state, rebuild_folders(server, state))


def rebuild_folders(
    server: LanguageServer, state: State, settings: dict[str, dict[str, Any]] | None = None
) -> list[str]:
    """Rebuild every folder's configuration (on the loop) from `settings` (folder uri -> the
    client's `torchlint` section for it; see `Configuration.rebuild`). Documents whose
    configuration changed are analysed again; the problems found are returned, not shown
    (`initialize` may not show messages yet)."""
    configuration, scheduler = state.configuration, state.scheduler
    before = {uri: configuration.folder_of(uri).generation for uri in state.documents.snapshots}
    problems, removed = configuration.rebuild(listed_folders(server), settings)
    if removed:  # their engines go
        scheduler.run(lambda: scheduler.engines.prune(configuration.folders))
    for uri in list(state.documents.snapshots):
        if configuration.folder_of(uri).generation != before.get(uri):
            scheduler.schedule(uri, delay=0.0, refresh=True)
    return problems


async def update_folders(server: LanguageServer, state: State) -> None:
    """Ask the client for every folder's settings (when it can be asked), rebuild the folders'
    configurations, show the problems, re-analyse the documents whose configuration changed."""
    async with state.configuration.updating:  # a later change must not be overwritten by an earlier answer
        can_pull = can_pull_settings(server)
        settings = await _pull_settings(server) if can_pull else None
        if settings is None and not can_pull:
            settings = {uri: state.configuration.pushed_settings for uri, _, _ in listed_folders(server)}
        show_problems(server, state, rebuild_folders(server, state, settings))


def can_pull_settings(server: LanguageServer) -> bool:
    try:
        return bool(get_capability(server.client_capabilities, "workspace.configuration", False))
    except Exception:
        return False


def listed_folders(server: LanguageServer) -> FolderListing:
    """(uri, name, path) of every workspace folder, else of the root, else the global pseudo-folder."""
    out: FolderListing = []
    try:
        listed = list(server.workspace.folders.values())
        root = server.workspace.root_path
    except RuntimeError:  # before initialize
        listed, root = [], None
    for f in listed:
        p = to_fs_path(f.uri)
        if p:
            out.append((f.uri, f.name, Path(p).resolve()))
    if not out and root:
        out.append((from_fs_path(root) or root, Path(root).name, Path(root).resolve()))
    return out or [(GLOBAL, "", None)]


def show_problems(server: LanguageServer, state: State, problems: list[str]) -> None:
    """Configuration problems: each once as a message (the defaults apply meanwhile), and in the log."""
    shown = state.configuration.shown_problems
    for p in problems:
        server.window_log_message(types.LogMessageParams(type=types.MessageType.Warning, message=f"torchlint: {p}"))
        if p not in shown:
            shown.add(p)
            server.window_show_message(
                types.ShowMessageParams(type=types.MessageType.Warning, message=f"torchlint: {p}")
            )


async def _pull_settings(server: LanguageServer) -> dict[str, dict[str, Any]] | None:
    """`workspace/configuration`, one item per folder (scope = the folder); None when it failed."""
    listed = listed_folders(server)
    try:
        result = await server.workspace_configuration_async(
            types.ConfigurationParams(
                items=[types.ConfigurationItem(scope_uri=uri or None, section="torchlint") for uri, _, _ in listed]
            )
        )
    except Exception as exc:
        log.warning("workspace/configuration failed: %s", exc)
        return None
    result = list(result or [])
    return {
        uri: (section(result[i]) if i < len(result) and isinstance(result[i], dict) else {})
        for i, (uri, _, _) in enumerate(listed)
    }
