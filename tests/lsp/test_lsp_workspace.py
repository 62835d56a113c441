"""Workspace awareness: configuration layers, pyproject.toml, cross-file dependants, pull mode."""

from __future__ import annotations

import asyncio
import textwrap

import pytest
from lsp_harness import BUGGY_TRAIN, CLIENTS, codes, engine_findings
from lsprotocol import types
from pygls.uris import from_fs_path

pytestmark = [pytest.mark.timeout(240)]


def change_configuration(s, settings):
    s.client.set_configuration(settings, section="torchlint")
    s.client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings=None))


@pytest.mark.parametrize("client_name", CLIENTS)
async def test_configuration_change_reanalyses(start, client_name):
    s = await start(client_name)
    uri = s.open("train.py", BUGGY_TRAIN)
    assert codes(await s.diagnostics(uri, until=lambda d: d)) == ["TL101"]
    change_configuration(s, {"severity": {"TL101": "hint"}})
    diags = await s.diagnostics(uri, until=lambda d: d and d[0].severity == types.DiagnosticSeverity.Hint)
    assert codes(diags) == ["TL101"]
    change_configuration(s, {"ignore": ["TL101"]})
    assert await s.diagnostics(uri, until=lambda d: not d) == []
    change_configuration(s, {})
    assert codes(await s.diagnostics(uri, until=lambda d: d)) == ["TL101"]


async def test_initialization_options_select(start):
    s = await start("visual-studio-code", options={"select": ["TL2"]})
    uri = s.open("train.py", BUGGY_TRAIN)
    await asyncio.sleep(0.5)
    assert await s.diagnostics(uri) == []


async def test_settings_from_configuration_request_at_startup(start):
    s = await start("visual-studio-code", configuration={"ignore": ["TL101"]})
    uri = s.open("train.py", BUGGY_TRAIN)
    await asyncio.sleep(0.5)
    assert await s.diagnostics(uri) == []


@pytest.mark.parametrize("client_name", CLIENTS)
async def test_pyproject_change_reloads_configuration(start, client_name):
    s = await start(client_name, files={"pyproject.toml": '[tool.torchlint]\nignore = ["TL101"]\n'})
    if s.capabilities.workspace.did_change_watched_files.dynamic_registration:
        for _ in range(100):
            watched = [r for r in s.client.registrations if r.method == types.WORKSPACE_DID_CHANGE_WATCHED_FILES]
            if watched:
                break
            await asyncio.sleep(0.05)
        assert watched, "the server asks the client to watch pyproject.toml"
    uri = s.open("train.py", BUGGY_TRAIN)
    await asyncio.sleep(0.5)
    assert await s.diagnostics(uri) == []
    pyproject = s.root / "pyproject.toml"
    pyproject.write_text('[tool.torchlint]\nignore = []\n[tool.torchlint.severity]\nTL101 = "warning"\n')
    s.client.workspace_did_change_watched_files(
        types.DidChangeWatchedFilesParams(
            changes=[types.FileEvent(uri=from_fs_path(str(pyproject)), type=types.FileChangeType.Changed)]
        )
    )
    diags = await s.diagnostics(uri, until=lambda d: d)
    assert codes(diags) == ["TL101"] and diags[0].severity == types.DiagnosticSeverity.Warning


HELPER_OK = textwrap.dedent(
    """\
    def train_step(optimizer, loss):
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    """
)
HELPER_BUGGY = HELPER_OK.replace("    optimizer.zero_grad()\n", "")
TRAIN_WITH_HELPER = textwrap.dedent(
    """\
    import torch
    import torch.nn as nn
    from helpers import train_step

    model = nn.Linear(4, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    loader = [(torch.randn(8, 4), torch.randint(0, 2, (8,))) for _ in range(3)]

    for x, y in loader:
        loss = nn.functional.cross_entropy(model(x), y)
        train_step(optimizer, loss)
    """
)


def _engine_follows_helper(tmp_path) -> bool:
    judged = {}
    for name, helper in (("buggy", HELPER_BUGGY), ("ok", HELPER_OK)):
        d = tmp_path / f"probe-{name}"
        d.mkdir()
        (d / "helpers.py").write_text(helper)
        judged[name] = codes(engine_findings(d / "train.py", TRAIN_WITH_HELPER))
    buggy, ok = judged["buggy"], judged["ok"]
    return buggy == ["TL101"] and ok == []


@pytest.mark.parametrize("client_name", CLIENTS)
async def test_editing_an_imported_file_reanalyses_its_dependants(start, client_name, tmp_path):
    assert _engine_follows_helper(tmp_path), "the engine no longer follows this helper across files"
    s = await start(client_name, files={"helpers.py": HELPER_OK})
    train = s.open("train.py", TRAIN_WITH_HELPER)
    await asyncio.sleep(0.3)
    assert await s.diagnostics(train) == []
    helpers = s.open("helpers.py")
    s.replace(helpers, HELPER_BUGGY)  # unsaved: the editor's text counts, not the disk
    assert codes(await s.diagnostics(train, until=lambda d: d)) == ["TL101"]
    s.replace(helpers, HELPER_OK)
    assert await s.diagnostics(train, until=lambda d: not d) == []


async def test_opening_an_unsaved_import_reanalyses_its_dependants(start, tmp_path):
    """A buffer whose text differs from the disk (restored session, unsaved edit) counts from didOpen on."""
    assert _engine_follows_helper(tmp_path), "the engine no longer follows this helper across files"
    s = await start("visual-studio-code", files={"helpers.py": HELPER_OK})
    train = s.open("train.py", TRAIN_WITH_HELPER)
    await asyncio.sleep(0.3)
    assert await s.diagnostics(train) == []
    s.open("helpers.py", HELPER_BUGGY)  # the editor holds the buggy text; the disk still has the good one
    assert codes(await s.diagnostics(train, until=lambda d: d)) == ["TL101"]


@pytest.mark.parametrize("client_name", CLIENTS)
async def test_file_changed_on_disk_reanalyses_its_dependants(start, client_name, tmp_path):
    assert _engine_follows_helper(tmp_path), "the engine no longer follows this helper across files"
    s = await start(client_name, files={"helpers.py": HELPER_OK})
    train = s.open("train.py", TRAIN_WITH_HELPER)
    await asyncio.sleep(0.3)
    assert await s.diagnostics(train) == []
    path = s.root / "helpers.py"
    path.write_text(HELPER_BUGGY)  # e.g. `git checkout` of another branch
    s.client.workspace_did_change_watched_files(
        types.DidChangeWatchedFilesParams(
            changes=[types.FileEvent(uri=from_fs_path(str(path)), type=types.FileChangeType.Changed)]
        )
    )
    assert codes(await s.diagnostics(train, until=lambda d: d)) == ["TL101"]


EVALUATION_LEAKY = textwrap.dedent(
    """\
    import torch


    def evaluate(model, loader):
        model.eval()
        total = 0.0
        with torch.no_grad():
            for x, y in loader:
                total += torch.nn.functional.cross_entropy(model(x), y).item()
        return total
    """
)
EVALUATION_RESTORES = EVALUATION_LEAKY.replace("    return total\n", "    model.train()\n    return total\n")
assert EVALUATION_RESTORES != EVALUATION_LEAKY
TRAIN_WITH_EVAL = textwrap.dedent(
    """\
    import torch
    import torch.nn as nn
    from evaluation import evaluate

    model = nn.Sequential(nn.Linear(4, 8), nn.Dropout(0.5), nn.Linear(8, 2))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    loader = [(torch.randn(8, 4), torch.randint(0, 2, (8,))) for _ in range(3)]

    for epoch in range(3):
        for x, y in loader:
            optimizer.zero_grad()
            loss = nn.functional.cross_entropy(model(x), y)
            loss.backward()
            optimizer.step()
        evaluate(model, loader)
    """
)


@pytest.mark.parametrize("client_name", CLIENTS)
async def test_eval_mode_leak_follows_the_imported_helper(start, client_name, tmp_path):
    """train.py imports evaluate from evaluation.py; fixing evaluation.py in the editor fixes train.py."""
    judged = {}
    for name, helper in (("leaky", EVALUATION_LEAKY), ("restored", EVALUATION_RESTORES)):
        probe = tmp_path / f"probe-{name}"
        probe.mkdir()
        (probe / "evaluation.py").write_text(helper)
        judged[name] = "TL201" in codes(engine_findings(probe / "train.py", TRAIN_WITH_EVAL))
    leaky, restored = judged["leaky"], judged["restored"]
    assert leaky and not restored, f"the engine misjudges this example (leaky={leaky}, restored={restored})"
    s = await start(client_name, files={"evaluation.py": EVALUATION_LEAKY})
    train = s.open("train.py", TRAIN_WITH_EVAL)
    diags = await s.diagnostics(train, until=lambda d: "TL201" in codes(d))
    tl201 = next(d for d in diags if d.code == "TL201")
    evaluation_uri = from_fs_path(str(s.root / "evaluation.py"))
    assert any(r.location.uri == evaluation_uri for r in tl201.related_information or [])
    evaluation = s.open("evaluation.py")
    s.replace(evaluation, EVALUATION_RESTORES)
    await s.diagnostics(train, until=lambda d: "TL201" not in codes(d))
    s.replace(evaluation, EVALUATION_LEAKY)
    await s.diagnostics(train, until=lambda d: "TL201" in codes(d))


async def test_pull_mode_never_pushes(start):
    s = await start("visual-studio-code", pull=True)
    assert s.pull and s.result.capabilities.diagnostic_provider is not None
    uri = s.open("train.py", BUGGY_TRAIN)
    assert codes(await s.diagnostics(uri, until=lambda d: d)) == ["TL101"]
    report = await s.client.workspace_diagnostic_async(types.WorkspaceDiagnosticParams(previous_result_ids=[]))
    assert [(i.uri, codes(i.items)) for i in report.items] == [(uri, ["TL101"])]
    refreshes = s.client.diagnostic_refresh_count
    change_configuration(s, {"ignore": ["TL101"]})
    for _ in range(100):
        if s.client.diagnostic_refresh_count > refreshes:
            break
        await asyncio.sleep(0.05)
    assert s.client.diagnostic_refresh_count > refreshes, "the server asks the client to pull again"
    assert await s.diagnostics(uri) == []
    assert s.client.published == []
