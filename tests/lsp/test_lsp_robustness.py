"""The real server over stdio, fed what real clients and real repositories send: a repository
that names a program to run, bad configuration, an untrusted workspace, malformed requests."""

from __future__ import annotations

import asyncio

import pytest
from lsp_harness import BUGGY_TRAIN, codes
from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pygls.uris import from_fs_path

# A class from a package that only Jedi can resolve: the moment the engine would start the
# configured interpreter to learn its sys.path.
NEEDS_JEDI = "import torch\nfrom somepkg import Net\nnet = Net()\n" + BUGGY_TRAIN


@pytest.fixture
def evil(tmp_path_factory):
    """An 'interpreter' that leaves a marker when anything runs it."""
    d = tmp_path_factory.mktemp("evil")
    marker = d / "ran"
    script = d / "python"
    script.write_text(f'#!/bin/sh\ntouch "{marker}"\nexec python3 "$@"\n')
    script.chmod(0o755)
    return script, marker


def _untyped(client, send, method, params):
    """Send `params` as they are: the client's protocol would otherwise type (and validate) them."""
    proto = client.protocol
    proto.get_message_type = lambda _method: None  # an instance attribute shadows the method
    try:
        return send(method, params)
    finally:
        del proto.get_message_type


def raw_request(client, method: str, params):
    return asyncio.wait_for(
        asyncio.wrap_future(_untyped(client, client.protocol.send_request, method, params)), timeout=10
    )


def raw_notify(client, method: str, params) -> None:
    _untyped(client, client.protocol.notify, method, params)


def errors_shown(client) -> list[str]:
    return [m.message for m in client.messages if m.type == types.MessageType.Error]


async def test_pyproject_interpreter_is_never_run(start, evil):
    script, marker = evil
    s = await start(files={"pyproject.toml": f'[tool.torchlint]\ninterpreter = "{script}"\n'})
    uri = s.open("train.py", NEEDS_JEDI)
    assert "TL101" in codes(await s.diagnostics(uri, until=lambda d: "TL101" in codes(d)))
    assert not marker.exists(), "a pyproject.toml made the server run a program"
    warned = [m.message for m in s.client.messages if "`interpreter` in pyproject.toml is ignored" in m.message]
    assert len(warned) == 1, s.client.messages


async def test_untrusted_workspace_ignores_interpreter_settings(start, evil):
    script, marker = evil
    s = await start(
        options={"workspaceTrusted": False, "interpreter": str(script)}, configuration={"interpreter": str(script)}
    )
    uri = s.open("train.py", NEEDS_JEDI)
    assert "TL101" in codes(await s.diagnostics(uri, until=lambda d: "TL101" in codes(d)))
    await asyncio.sleep(0.5)  # the configuration pulled after `initialized` is applied too
    s.replace(uri, NEEDS_JEDI + "\n")
    await s.diagnostics(uri, until=lambda d: "TL101" in codes(d))
    assert not marker.exists(), "an untrusted workspace's settings made the server run a program"


async def test_trusted_settings_interpreter_is_used(start, evil):
    """The control for the two tests above: the user's own setting is what Jedi starts."""
    script, marker = evil
    s = await start(options={"interpreter": str(script)})
    uri = s.open("train.py", NEEDS_JEDI)
    await s.diagnostics(uri, until=lambda d: "TL101" in codes(d))
    for _ in range(100):
        if marker.exists():
            break
        await asyncio.sleep(0.1)
    assert marker.exists()


@pytest.mark.parametrize(
    "body",
    [
        "[tool.torchlint]\nexclude = 5\n",
        '[tool.torchlint]\noverfit = {steps = "many"}\n',
        "[tool.torchlint\nselect = [\n",
        "[tool.torchlint]\nselct = []\n",
    ],
)
async def test_bad_config_shown_once_and_defaults_apply(start, body):
    s = await start(files={"pyproject.toml": body})
    uri = s.open("train.py", BUGGY_TRAIN)
    assert "TL101" in codes(await s.diagnostics(uri, until=lambda d: "TL101" in codes(d)))
    # a configuration change re-reads the file: the problem is logged again, not shown again
    s.client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings={"torchlint": {}}))
    s.replace(uri, BUGGY_TRAIN + "\n")
    await s.diagnostics(uri, until=lambda d: "TL101" in codes(d))
    await asyncio.sleep(0.3)
    shown = [m for m in s.client.messages if "pyproject.toml" in m.message]
    assert len(shown) == 1, [m.message for m in s.client.messages]
    assert shown[0].type == types.MessageType.Warning
    assert any("pyproject.toml" in m.message for m in s.client.log_messages)


async def test_overfit_check_refused_when_untrusted(start):
    s = await start(options={"workspaceTrusted": False}, files={"train.py": BUGGY_TRAIN})
    result = await s.client.workspace_execute_command_async(
        types.ExecuteCommandParams(
            command="torchlint.runOverfitCheck", arguments=[{"uri": from_fs_path(str(s.root / "train.py"))}]
        )
    )
    assert result["verdict"] == "ERROR" and result.get("refused") is True
    assert "not trusted" in result["error"]
    assert any("not trusted" in m.message for m in s.client.messages)


async def test_overfit_check_refuses_files_outside_the_workspace(start, tmp_path):
    outside = tmp_path / "elsewhere" / "train.py"
    outside.parent.mkdir()
    marker = tmp_path / "ran"
    outside.write_text(f"open({str(marker)!r}, 'w').close()\n")
    s = await start()
    result = await s.client.workspace_execute_command_async(
        types.ExecuteCommandParams(command="torchlint.runOverfitCheck", arguments=[{"uri": from_fs_path(str(outside))}])
    )
    assert result["verdict"] == "ERROR" and result.get("refused") is True
    assert "outside" in result["error"] and str(s.root) in result["error"]
    # a symlink inside the workspace to a script outside it is outside too
    (s.root / "link.py").symlink_to(outside)
    result = await s.client.workspace_execute_command_async(
        types.ExecuteCommandParams(
            command="torchlint.runOverfitCheck", arguments=[{"uri": from_fs_path(str(s.root / "link.py"))}]
        )
    )
    assert result.get("refused") is True
    await asyncio.sleep(0.5)
    assert not marker.exists()


@pytest.mark.parametrize(
    "method, params",
    [
        ("textDocument/hover", {"foo": 1}),
        ("textDocument/codeAction", {"textDocument": {"uri": 5}}),
        ("textDocument/codeLens", {}),
        ("workspace/executeCommand", {"command": "torchlint.runOverfitCheck", "arguments": 7}),
    ],
)
async def test_invalid_params_get_an_error_response(start, method, params):
    s = await start()
    with pytest.raises(JsonRpcException) as info:
        await raw_request(s.client, method, params)
    assert info.value.code in (-32602, -32600, -32603)
    uri = s.open("train.py", BUGGY_TRAIN)  # and the server goes on serving
    assert "TL101" in codes(await s.diagnostics(uri, until=lambda d: "TL101" in codes(d)))
    assert errors_shown(s.client) == []


async def test_stray_notifications_and_second_initialize(start):
    s = await start()
    uri = s.open("train.py", BUGGY_TRAIN)
    await s.diagnostics(uri, until=lambda d: "TL101" in codes(d))
    # didChange for a document that was never opened
    s.client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=from_fs_path(str(s.root / "ghost.py")), version=3),
            content_changes=[types.TextDocumentContentChangeWholeDocument(text="import torch\n")],
        )
    )
    # a malformed notification
    raw_notify(s.client, "textDocument/didOpen", {"textDocument": {"uri": 1}})
    # a second initialize is refused, and nothing the first one set up is lost
    with pytest.raises(JsonRpcException):
        await raw_request(s.client, "initialize", {"capabilities": {}, "rootUri": from_fs_path(str(s.root / "sub"))})
    # versions going backwards: applied in arrival order, the document stays open
    s.versions[uri] = 0
    fixed = BUGGY_TRAIN.replace("    loss.backward()", "    optimizer.zero_grad()\n    loss.backward()")
    s.replace(uri, fixed)
    assert "TL101" not in codes(await s.diagnostics(uri, until=lambda d: "TL101" not in codes(d)))
    hover = await s.client.text_document_hover_async(
        types.HoverParams(
            text_document=types.TextDocumentIdentifier(uri=uri), position=types.Position(line=0, character=0)
        )
    )
    assert hover is None or hover.contents is not None
    assert errors_shown(s.client) == []
