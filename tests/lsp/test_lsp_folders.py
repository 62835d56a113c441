"""Settings per workspace folder (issue 13): every folder has its own `torchlint` settings
(pulled with `workspace/configuration`, scope = the folder) and its own pyproject.toml; each
document is analysed with the settings of the folder holding it (the longest match), documents
outside every folder with the first folder's; a change in one folder's settings analyses (and
publishes) that folder's documents again, not the others'."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import pytest_asyncio
from lsp_harness import BUGGY_TRAIN, CLIENTS, SERVER, Session, capabilities_for, codes
from lsprotocol import types
from pygls.uris import from_fs_path

from torchlint.config import Config
from torchlint.lsp.folders import Folder, folder_for

pytestmark = [pytest.mark.timeout(240)]

IGNORE_TL101 = {"ignore": ["TL101"]}


def _uri(path: Path) -> str:
    return from_fs_path(str(path))


@pytest_asyncio.fixture
async def start_folders(tmp_path):
    """`await start_folders(client_name, folders=[...], configuration={folder or None: {...}})`:
    a Session rooted at tmp_path whose workspace folders are the given subdirectories."""
    started: list[Session] = []

    async def _start(
        client_name: str, folders: list[str], configuration: dict[str | None, dict], pull_capable: bool = True
    ):
        for name in folders:
            (tmp_path / name).mkdir(parents=True, exist_ok=True)
        client = await SERVER.start()
        for folder, settings in configuration.items():
            client.set_configuration(
                settings, section="torchlint", scope_uri=_uri(tmp_path / folder) if folder else None
            )
        caps = capabilities_for(client_name)
        if not pull_capable:
            caps.workspace.configuration = False
        result = await client.initialize_session(
            types.InitializeParams(
                capabilities=caps,
                root_uri=_uri(tmp_path / folders[0]),
                workspace_folders=[types.WorkspaceFolder(uri=_uri(tmp_path / f), name=f) for f in folders],
                initialization_options={"debounce": 10},
            )
        )
        session = Session(client, tmp_path, caps, result)
        started.append(session)
        return session

    yield _start
    for s in started:
        await asyncio.wait_for(s.client.shutdown_session(), timeout=10)
        await s.client.stop()


def _change_configuration(s: Session, folder: str | None, settings: dict) -> None:
    s.client.set_configuration(settings, section="torchlint", scope_uri=_uri(s.root / folder) if folder else None)
    s.client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings=None))


def _severities(diags) -> list:
    return [d.severity for d in diags]


async def _none(s: Session, uri: str) -> list[types.Diagnostic]:
    """The diagnostics of `uri` once they are empty. The server asks for the folders' settings
    after `initialized`: a document opened at once may first be analysed without them."""
    return await s.diagnostics(uri, until=lambda d: not d)


async def _result_id(s: Session, uri: str) -> str | None:
    report = await s.client.text_document_diagnostic_async(
        types.DocumentDiagnosticParams(text_document=types.TextDocumentIdentifier(uri=uri))
    )
    return report.result_id


def _published(s: Session, uri: str) -> int:
    return sum(1 for p in s.client.published if p.uri == uri)


@pytest.mark.parametrize("client_name", CLIENTS)
async def test_each_document_gets_the_settings_of_its_folder(start_folders, client_name, tmp_path):
    # folder `a` ignores TL101, `a/lab` (nested: the longer match wins) sets nothing, `b` has
    # only the global settings (TL101 as a hint); a document outside every folder uses `a`'s
    s = await start_folders(
        client_name,
        ["a", "b", "a/lab"],
        {None: {"severity": {"TL101": "hint"}}, "a": IGNORE_TL101, "a/lab": {}},
    )
    in_a = s.open("a/train.py", BUGGY_TRAIN)
    in_b = s.open("b/train.py", BUGGY_TRAIN)
    in_lab = s.open("a/lab/train.py", BUGGY_TRAIN)
    outside = s.open("elsewhere/train.py", BUGGY_TRAIN)
    diags_b = await s.diagnostics(in_b, until=lambda d: _severities(d) == [types.DiagnosticSeverity.Hint])
    assert codes(diags_b) == ["TL101"]
    diags_lab = await s.diagnostics(in_lab, until=lambda d: d)
    assert codes(diags_lab) == ["TL101"] and _severities(diags_lab) != [types.DiagnosticSeverity.Hint]  # the rule's own
    assert await _none(s, in_a) == []
    assert await _none(s, outside) == []


@pytest.mark.parametrize("client_name", CLIENTS)
async def test_a_change_in_one_folder_reanalyses_only_that_folders_documents(start_folders, client_name):
    s = await start_folders(client_name, ["a", "b"], {"a": IGNORE_TL101, "b": {}})
    in_a = s.open("a/train.py", BUGGY_TRAIN)
    in_b = s.open("b/train.py", BUGGY_TRAIN)
    assert codes(await s.diagnostics(in_b, until=lambda d: d)) == ["TL101"]
    assert await _none(s, in_a) == []
    await asyncio.sleep(0.3)
    if s.pull:
        id_a, id_b = await _result_id(s, in_a), await _result_id(s, in_b)
    else:
        published_a = _published(s, in_a)

    _change_configuration(s, "b", {"severity": {"TL101": "hint"}})
    diags_b = await s.diagnostics(in_b, until=lambda d: _severities(d) == [types.DiagnosticSeverity.Hint])
    assert codes(diags_b) == ["TL101"]
    await asyncio.sleep(0.5)
    assert await s.diagnostics(in_a) == []
    if s.pull:  # `a`'s analysis is the same one; `b`'s is new
        assert await _result_id(s, in_a) == id_a
        assert await _result_id(s, in_b) != id_b
    else:  # nothing new was published for `a`
        assert _published(s, in_a) == published_a

    # and the other way round: `a` stops ignoring TL101, `b` keeps its hint
    _change_configuration(s, "a", {})
    assert _severities(await s.diagnostics(in_a, until=lambda d: d)) != [types.DiagnosticSeverity.Hint]
    assert _severities(await s.diagnostics(in_b)) == [types.DiagnosticSeverity.Hint]


async def test_pyproject_of_each_folder_applies_to_its_documents(start_folders, tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "pyproject.toml").write_text('[tool.torchlint]\nignore = ["TL101"]\n')
    s = await start_folders("visual-studio-code", ["a", "b"], {})
    in_a = s.open("a/train.py", BUGGY_TRAIN)
    in_b = s.open("b/train.py", BUGGY_TRAIN)
    assert codes(await s.diagnostics(in_b, until=lambda d: d)) == ["TL101"]
    assert await _none(s, in_a) == []


@pytest.mark.parametrize("client_name", CLIENTS)
async def test_added_and_removed_folders_bring_and_take_their_settings(start_folders, client_name, tmp_path):
    (tmp_path / "b").mkdir()
    s = await start_folders(client_name, ["a"], {"a": IGNORE_TL101, "b": {}})
    in_b = s.open("b/train.py", BUGGY_TRAIN)  # outside every folder: `a`'s settings
    assert await _none(s, in_b) == []
    folder_b = types.WorkspaceFolder(uri=_uri(tmp_path / "b"), name="b")
    s.client.workspace_did_change_workspace_folders(
        types.DidChangeWorkspaceFoldersParams(event=types.WorkspaceFoldersChangeEvent(added=[folder_b], removed=[]))
    )
    assert codes(await s.diagnostics(in_b, until=lambda d: d)) == ["TL101"]
    s.client.workspace_did_change_workspace_folders(
        types.DidChangeWorkspaceFoldersParams(event=types.WorkspaceFoldersChangeEvent(added=[], removed=[folder_b]))
    )
    assert await s.diagnostics(in_b, until=lambda d: not d) == []


async def test_pushed_settings_apply_to_every_folder_when_the_client_cannot_be_asked(start_folders):
    s = await start_folders("visual-studio-code", ["a", "b"], {}, pull_capable=False)
    in_a = s.open("a/train.py", BUGGY_TRAIN)
    in_b = s.open("b/train.py", BUGGY_TRAIN)
    assert codes(await s.diagnostics(in_a, until=lambda d: d)) == ["TL101"]
    assert codes(await s.diagnostics(in_b, until=lambda d: d)) == ["TL101"]
    s.client.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(settings={"torchlint": IGNORE_TL101})
    )
    assert await s.diagnostics(in_a, until=lambda d: not d) == []
    assert await s.diagnostics(in_b, until=lambda d: not d) == []


# -- units ---------------------------------------------------------------------------------------
def test_folder_for_takes_the_longest_match_and_falls_back_to_the_first(tmp_path):
    a, lab, b = (
        Folder("a", "a", tmp_path / "a"),
        Folder("lab", "lab", tmp_path / "a" / "lab"),
        Folder("b", "b", tmp_path / "b"),
    )
    folders = [a, b, lab]
    assert folder_for(folders, str(tmp_path / "a" / "x.py")) is a
    assert folder_for(folders, str(tmp_path / "a" / "lab" / "x.py")) is lab
    assert folder_for(folders, str(tmp_path / "a" / "lab")) is lab
    assert folder_for(folders, str(tmp_path / "b" / "deep" / "x.py")) is b
    assert folder_for(folders, str(tmp_path / "ab" / "x.py")) is a  # `ab` is not inside `a`: the first folder
    assert folder_for(folders, None) is a  # untitled documents too
    assert folder_for([], str(tmp_path / "x.py")) is None


def test_folder_for_sees_through_symlinks(tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    other, real = Folder("o", "o", tmp_path / "other"), Folder("r", "r", tmp_path / "real")
    assert folder_for([other, real], str(tmp_path / "link" / "x.py")) is real


def test_overfit_settings_are_those_of_the_scripts_folder(tmp_path):
    from torchlint.lsp import overfit
    from torchlint.lsp.configuration import Configuration

    ls = Configuration()
    a = Folder(
        _uri(tmp_path / "a"), "a", tmp_path / "a", config=Config(overfit_steps=7, interpreter="/a/python"), generation=1
    )
    b = Folder(_uri(tmp_path / "b"), "b", tmp_path / "b", config=Config(overfit_steps=9), generation=2)
    ls._folders = ({a.uri: a, b.uri: b}, {})
    assert ls.overfit_settings(_uri(tmp_path / "b" / "train.py"))["overfit"]["steps"] == 9
    assert ls.overfit_settings(_uri(tmp_path / "a" / "train.py"))["interpreter"] == "/a/python"
    assert (
        ls.overfit_settings(_uri(tmp_path / "c" / "train.py"))["overfit"]["steps"] == 7
    )  # outside: the first folder's
    # the overfit command asks for the settings of the script it runs
    assert overfit._settings_for(ls.overfit_settings, _uri(tmp_path / "b" / "t.py"))["overfit"]["steps"] == 9
    assert overfit._settings_for(lambda: {"x": 1}, "file:///t.py") == {"x": 1}
