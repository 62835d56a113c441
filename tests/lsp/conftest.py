"""Fixtures for the LSP end-to-end tests (helpers live in lsp_harness.py)."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import Any

import pytest_asyncio
from lsprotocol import types
from pygls.uris import from_fs_path

sys.path.insert(0, str(Path(__file__).parent))
from lsp_harness import SERVER, Session, capabilities_for


@pytest_asyncio.fixture
async def start(tmp_path):
    """`await start(client_name, files={...}, options={...})` -> a Session, shut down afterwards."""
    started: list[Session] = []

    async def _start(
        client_name: str = "visual-studio-code",
        *,
        files: dict[str, str] | None = None,
        options: dict[str, Any] | None = None,
        configuration: dict[str, Any] | None = None,
        encodings: list[str] | None = None,
        pull: bool | None = None,
    ) -> Session:
        root = tmp_path / "ws"
        root.mkdir(exist_ok=True)
        for name, text in (files or {}).items():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_text(text, encoding="utf-8")
        client = await SERVER.start()
        if configuration is not None:
            client.set_configuration(configuration, section="torchlint")
        caps = capabilities_for(client_name, encodings=encodings, pull=pull)
        result = await client.initialize_session(
            types.InitializeParams(
                capabilities=caps,
                root_uri=from_fs_path(str(root)),
                workspace_folders=[types.WorkspaceFolder(uri=from_fs_path(str(root)), name="ws")],
                initialization_options={"debounce": 10, **(options or {})},
            )
        )
        session = Session(client, root, caps, result)
        started.append(session)
        return session

    yield _start
    for s in started:
        t0 = time.monotonic()
        if s.capabilities is None:  # the test shut the server down itself
            s.client.capabilities = None
        await asyncio.wait_for(s.client.shutdown_session(), timeout=10)
        await s.client.stop()
        assert time.monotonic() - t0 < 10
