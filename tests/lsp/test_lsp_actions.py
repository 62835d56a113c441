"""Code actions (quick fix, noqa, fix-all), code lenses and hover, end to end."""

from __future__ import annotations

import textwrap

import pytest
from lsp_harness import BUGGY_TRAIN, CLIENTS, codes, engine_findings
from lsprotocol import types

from torchlint.lsp.diagnostics import headline
from torchlint.lsp.hover import why
from torchlint.rules import get_rule

pytestmark = [pytest.mark.timeout(240)]

TWO_LOOPS = BUGGY_TRAIN + textwrap.dedent(
    """
    for epoch in range(2):
        for x, y in loader:
            out = model(x)
            loss = loss_fn(out, y)
            loss.backward()
            optimizer.step()
    """
)


@pytest.mark.parametrize("client_name", CLIENTS)
async def test_quick_fix_makes_the_file_clean(start, client_name):
    s = await start(client_name)
    uri = s.open("train.py", BUGGY_TRAIN)
    diags = await s.diagnostics(uri, until=lambda d: d)
    actions = await s.code_actions(uri, diags[0].range, diags)
    quickfixes = [a for a in actions if a.kind == types.CodeActionKind.QuickFix]
    (preferred,) = [a for a in quickfixes if a.is_preferred]
    (f,) = engine_findings(s.root / "train.py", BUGGY_TRAIN)
    # titled like ruff's: tool and rule first, then the fix's own description
    assert preferred.title == f"torchlint (TL101): {f.fix.message[0].upper()}{f.fix.message[1:]}"
    assert preferred.diagnostics and preferred.diagnostics[0].code == "TL101"
    if s.capabilities.workspace.workspace_edit and s.capabilities.workspace.workspace_edit.document_changes:
        (dc,) = preferred.edit.document_changes
        assert dc.text_document.version == s.versions[uri]
    s.apply(preferred.edit)
    assert await s.diagnostics(uri, until=lambda d: not d) == []


@pytest.mark.parametrize("client_name", CLIENTS)
async def test_cursor_position_request_finds_the_line_diagnostic(start, client_name):
    """Neovim 0.7 sends the cursor as the range and may send no diagnostics."""
    s = await start(client_name)
    uri = s.open("train.py", BUGGY_TRAIN)
    diags = await s.diagnostics(uri, until=lambda d: d)
    pos = diags[0].range.start
    actions = await s.code_actions(uri, types.Range(pos, pos))
    titles = [a.title for a in actions]
    assert "torchlint (TL101): Disable for this line" in titles
    assert any(a.is_preferred for a in actions)


@pytest.mark.parametrize("client_name", CLIENTS)
async def test_noqa_action_silences_the_line(start, client_name):
    s = await start(client_name)
    uri = s.open("train.py", BUGGY_TRAIN)
    diags = await s.diagnostics(uri, until=lambda d: d)
    actions = await s.code_actions(uri, diags[0].range, diags)
    (noqa,) = [a for a in actions if a.title == "torchlint (TL101): Disable for this line"]
    assert not noqa.is_preferred
    s.apply(noqa.edit)
    assert "# noqa: TL101" in s.texts[uri].splitlines()[diags[0].range.start.line]
    assert await s.diagnostics(uri, until=lambda d: not d) == []


@pytest.mark.parametrize("client_name", CLIENTS)
async def test_fix_all_applies_every_safe_fix(start, client_name):
    s = await start(client_name)
    uri = s.open("train.py", TWO_LOOPS)
    diags = await s.diagnostics(uri, until=lambda d: len(d) >= 2)
    assert codes(diags) == ["TL101", "TL101"]
    whole = types.Range(types.Position(0, 0), types.Position(0, 0))
    actions = await s.code_actions(uri, whole, [], only=["source.fixAll.torchlint"])
    assert [a.kind for a in actions] == ["source.fixAll.torchlint"]
    # `source` includes its sub-kinds; `quickfix` alone excludes fix-all
    assert [a.kind for a in await s.code_actions(uri, whole, [], only=["source"])] == ["source.fixAll.torchlint"]
    assert all(a.kind == "quickfix" for a in await s.code_actions(uri, diags[0].range, diags, only=["quickfix"]))
    s.apply(actions[0].edit)
    assert await s.diagnostics(uri, until=lambda d: not d) == []
    # nothing left to fix: no fix-all action
    assert await s.code_actions(uri, whole, [], only=["source.fixAll"]) == []


async def test_stale_diagnostic_data_is_recomputed_for_the_current_version(start):
    s = await start("visual-studio-code")
    uri = s.open("train.py", BUGGY_TRAIN)
    diags = await s.diagnostics(uri, until=lambda d: d)
    # insert two lines at the top: the diagnostics the client holds are now stale
    s.replace(uri, "# a\n# b\n" + BUGGY_TRAIN)
    actions = await s.code_actions(
        uri,
        types.Range(types.Position(diags[0].range.start.line + 2, 0), types.Position(diags[0].range.start.line + 2, 0)),
    )
    (preferred,) = [a for a in actions if a.is_preferred]
    (dc,) = preferred.edit.document_changes
    assert dc.text_document.version == s.versions[uri]
    s.apply(preferred.edit)
    assert await s.diagnostics(uri, until=lambda d: not d) == []


@pytest.mark.parametrize("client_name", CLIENTS)
async def test_code_lens_on_training_loop(start, client_name):
    s = await start(client_name)
    uri = s.open("train.py", BUGGY_TRAIN)
    lenses = await s.client.text_document_code_lens_async(
        types.CodeLensParams(text_document=types.TextDocumentIdentifier(uri=uri))
    )
    loop_line = BUGGY_TRAIN.splitlines().index("for x, y in loader:")
    assert [(l.range.start.line, l.command.command) for l in lenses] == [(loop_line, "torchlint.runOverfitCheck")]
    assert list(lenses[0].command.arguments) == [{"uri": uri, "line": loop_line}]
    commands = s.result.capabilities.execute_command_provider.commands
    assert {"torchlint.runOverfitCheck", "torchlint.cancelOverfitCheck"} <= set(commands)


@pytest.mark.parametrize("client_name", CLIENTS)
async def test_hover_explains_the_rule(start, client_name):
    s = await start(client_name)
    uri = s.open("train.py", BUGGY_TRAIN)
    diags = await s.diagnostics(uri, until=lambda d: d)
    rule = get_rule("TL101")
    h = await s.client.text_document_hover_async(
        types.HoverParams(text_document=types.TextDocumentIdentifier(uri=uri), position=diags[0].range.start)
    )
    assert h is not None and h.range == diags[0].range
    (f,) = engine_findings(s.root / "train.py", BUGGY_TRAIN)
    # the diagnostic carries the bug (VS Code shows it above the hover); the hover adds the rest
    head, rest = headline(f.message)
    assert diags[0].message == head and len(head) < len(f.message)
    assert head not in h.contents.value
    assert rest[1:] in h.contents.value
    assert why(rule.doc()) and why(rule.doc()) in h.contents.value
    assert rule.url() in h.contents.value
    assert rule.example_fix() and rule.example_fix() in h.contents.value
    assert f.fix.message in h.contents.value
    nothing = await s.client.text_document_hover_async(
        types.HoverParams(text_document=types.TextDocumentIdentifier(uri=uri), position=types.Position(0, 0))
    )
    assert nothing is None


UNSAFE = textwrap.dedent(
    """\
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    model = nn.Linear(4, 3)
    x = torch.randn(8, 4)
    y = torch.randint(0, 3, (8,))
    probs = F.softmax(model(x), dim=1)
    loss = F.cross_entropy(probs, y)
    """
)


async def test_unsafe_fix_is_offered_but_not_preferred_nor_in_fix_all(start):
    s = await start("visual-studio-code")
    unsafe = [f for f in engine_findings(s.root / "probs.py", UNSAFE) if f.fix and f.fix.applicability == "unsafe"]
    assert unsafe, "TL301 lost its unsafe fix for this example"
    uri = s.open("probs.py", UNSAFE)
    diags = await s.diagnostics(uri, until=lambda d: d)
    d = next(d for d in diags if d.code == unsafe[0].code)
    actions = await s.code_actions(uri, d.range, [d])
    (fix,) = [
        a
        for a in actions
        if a.title.startswith(f"torchlint ({unsafe[0].code}): ")
        and a.title.lower().endswith(unsafe[0].fix.message.lower())
    ]
    assert fix.kind == types.CodeActionKind.QuickFix and not fix.is_preferred
    everything = types.Range(types.Position(0, 0), types.Position(len(UNSAFE.splitlines()), 0))
    fix_all = await s.code_actions(uri, everything, [], only=["source.fixAll.torchlint"])
    assert fix_all == [] or all(
        e.new_text != unsafe[0].fix.edits[0].content for dc in fix_all[0].edit.document_changes for e in dc.edits
    )
    s.apply(fix.edit)
    assert unsafe[0].code not in codes(await s.diagnostics(uri, until=lambda d: unsafe[0].code not in codes(d)))
