"""The session's life: `initialize` (the client's settings, trust and diagnostic model),
`initialized` (dynamic registrations, then each folder's own settings) and `shutdown`."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from lsprotocol import types
from pygls.capabilities import get_capability
from pygls.lsp.server import LanguageServer

from .. import __version__
from .settings import section
from .workspace import can_pull_settings, rebuild_folders, show_problems, update_folders

if TYPE_CHECKING:
    from .state import State

log = logging.getLogger("torchlint.lsp")

WATCHERS_ID = "torchlint-watched-files"
CONFIG_ID = "torchlint-configuration"


def register(server: LanguageServer, state: State) -> None:
    configuration = state.configuration
    init_problems: list[str] = []  # configuration problems found in `initialize`, shown after `initialized`

    @server.feature(types.INITIALIZE)
    def initialize(params: types.InitializeParams) -> None:
        state.scheduler.loop = asyncio.get_running_loop()
        configuration.init_settings = section(params.initialization_options)
        configuration.trusted = configuration.init_settings.get("workspaceTrusted") is not False
        state.publisher.pull = get_capability(params.capabilities, "text_document.diagnostic") is not None
        # every folder gets the initializationOptions until the client is asked for its own settings
        init_problems[:] = rebuild_folders(server, state)
        log.info(
            "torchlint %s: folders=%s pull=%s encoding=%s",
            __version__,
            [str(f.path) for f in configuration.folders.values()],
            state.publisher.pull,
            server.workspace.position_encoding,
        )

    @server.feature(types.INITIALIZED)
    async def initialized(params: types.InitializedParams) -> None:
        show_problems(server, state, init_problems)
        caps = server.client_capabilities
        registrations = []
        if get_capability(caps, "workspace.did_change_watched_files.dynamic_registration", False):
            registrations.append(
                types.Registration(
                    id=WATCHERS_ID,
                    method=types.WORKSPACE_DID_CHANGE_WATCHED_FILES,
                    register_options=types.DidChangeWatchedFilesRegistrationOptions(
                        watchers=[
                            types.FileSystemWatcher(glob_pattern="**/pyproject.toml"),
                            types.FileSystemWatcher(glob_pattern="**/*.py"),
                        ]
                    ),
                )
            )
        if get_capability(caps, "workspace.did_change_configuration.dynamic_registration", False):
            registrations.append(types.Registration(id=CONFIG_ID, method=types.WORKSPACE_DID_CHANGE_CONFIGURATION))
        if registrations:
            try:
                await server.client_register_capability_async(types.RegistrationParams(registrations=registrations))
            except Exception as exc:
                log.warning("dynamic registration failed: %s", exc)
        if can_pull_settings(server):
            # each folder's own settings (documents whose configuration changes are analysed again)
            await update_folders(server, state)

    @server.feature(types.SHUTDOWN)
    def shutdown(params: None) -> None:
        state.scheduler.stop()
