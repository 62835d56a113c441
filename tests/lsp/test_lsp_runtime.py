"""The overfit check's runtime findings in the main server: one bug, one diagnostic (a runtime
finding confirming a static one on its line becomes its related information), positions at the
code, and runtime findings that go stale when the code they describe changes. Real torch runs."""

from __future__ import annotations

import textwrap

import pytest
from lsp_harness import apply_text_edits
from lsprotocol import types

from torchlint.lsp import overfit

pytestmark = [pytest.mark.timeout(240)]

# Gradients never cleared, a real DataLoader, 3 batches x 2 epochs = 6 steps.
ACCUMULATE = textwrap.dedent(
    """\
    import torch
    from torch import nn
    from torch.utils.data import DataLoader, TensorDataset

    torch.manual_seed(0)
    x = torch.randn(48, 8)
    y = (x.sum(dim=1) > 0).long()
    loader = DataLoader(TensorDataset(x, y), batch_size=16, shuffle=True)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 2))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.001)
    loss_fn = nn.CrossEntropyLoss()
    for epoch in range(2):
        for inputs, targets in loader:
            loss = loss_fn(model(inputs), targets)
            loss.backward()
            optimizer.step()
    """
)
BACKWARD = ACCUMULATE.splitlines().index("        loss.backward()")


async def _run_check(s, uri):
    return await s.client.workspace_execute_command_async(
        types.ExecuteCommandParams(command="torchlint.runOverfitCheck", arguments=[{"uri": uri, "line": None}])
    )


def _confirmed(d: types.Diagnostic) -> list[types.DiagnosticRelatedInformation]:
    return [r for r in d.related_information or [] if r.message.startswith("confirmed by the overfit check (TLR07)")]


async def test_runtime_twin_merges_and_goes_stale_when_the_bug_is_fixed(start):
    s = await start("visual-studio-code", files={"acc.py": ACCUMULATE}, options={"overfit": {"steps": 20}})
    uri = s.open("acc.py")
    await s.diagnostics(uri, until=lambda d: any(x.code == "TL101" for x in d))
    report = await _run_check(s, uri)
    assert report["verdict"] in ("FAIL", "PARTIAL") and report["cancelled"] is False
    assert "TLR07" in {f["code"] for f in report["findings"]}
    assert "the script ended after 6 of 20 steps" in report["notes"]
    # one definition of the final loss: the verdict's (median of the last steps)
    values = report["losses"]
    assert report["initial_loss"] == values[0]
    assert report["final_loss"] == sorted(values[-5:])[2]
    assert f"{report['final_loss']:.4g}" in report["summary"]

    diags = await s.diagnostics(uri, until=lambda d: any(_confirmed(x) for x in d))
    (tl101,) = [d for d in diags if d.code == "TL101"]
    assert tl101.range.start.line == BACKWARD
    (evidence,) = _confirmed(tl101)
    assert evidence.location.uri == uri and evidence.location.range.start.line == BACKWARD
    assert not [d for d in diags if d.code == "TLR07"], "TLR07 is shown inside TL101, not on its own"
    for d in diags:
        if d.source == overfit.SOURCE:  # runtime findings underline the code, not the indentation
            line = ACCUMULATE.splitlines()[d.range.start.line]
            assert d.range.start.character == len(line) - len(line.lstrip()) > 0
            assert d.range.end == types.Position(d.range.start.line, len(line))

    # The quick fix inserts zero_grad() below optimizer.step(), as an editor sends it: a small
    # incremental change that does not touch the backward() line. TL101 goes, and TLR07 with it.
    actions = await s.code_actions(uri, tl101.range, [tl101])
    (fix,) = [a for a in actions if a.is_preferred]
    (dc,) = fix.edit.document_changes
    text = apply_text_edits(s.texts[uri], dc.edits, s.encoding)
    s.change(
        uri, [types.TextDocumentContentChangePartial(range=e.range, text=e.new_text) for e in reversed(dc.edits)], text
    )
    after = await s.diagnostics(uri, until=lambda d: not any(x.code == "TL101" for x in d))
    assert not [d for d in after if d.code == "TLR07" or _confirmed(d)]


async def test_a_cancelled_run_keeps_the_last_result(start):
    s = await start("visual-studio-code", files={"acc.py": ACCUMULATE}, options={"overfit": {"steps": 20}})
    uri = s.open("acc.py")
    await _run_check(s, uri)
    before = await s.diagnostics(uri, until=lambda d: any(_confirmed(x) for x in d))
    messages = len(s.client.messages)
    # a run cancelled before it starts (the cancel command is sent right behind the request)
    task = _run_check(s, uri)
    await s.client.workspace_execute_command_async(
        types.ExecuteCommandParams(command="torchlint.cancelOverfitCheck", arguments=[{"uri": uri}])
    )
    report = await task
    if report.get("cancelled"):
        assert report["verdict"] == "ERROR"
        after = await s.diagnostics(uri)
        assert [(d.code, d.range) for d in after] == [(d.code, d.range) for d in before]
        assert len(s.client.messages) == messages, "no message for a cancelled run"


def test_edits_drop_runtime_findings_on_their_lines_and_move_the_rest():
    class Server:
        pass

    server = Server()
    st = overfit._state(server)

    def diag(line: int, code: str) -> types.Diagnostic:
        return types.Diagnostic(
            range=types.Range(types.Position(line, 4), types.Position(line, 10)),
            message=code,
            code=code,
            source=overfit.SOURCE,
        )

    st.diagnostics["u"] = [diag(2, "TLR01"), diag(5, "TLR07"), diag(9, "TLR06")]

    def change(l0: int, c0: int, l1: int, c1: int, text: str):
        return types.TextDocumentContentChangePartial(
            range=types.Range(types.Position(l0, c0), types.Position(l1, c1)), text=text
        )

    # two lines inserted at the start of line 3: nothing on them, everything below moves down
    assert overfit.on_change(server, "u", [change(3, 0, 3, 0, "a\nb\n")])
    assert [(d.code, d.range.start.line, d.range.start.character) for d in st.diagnostics["u"]] == [
        ("TLR01", 2, 4),
        ("TLR07", 7, 4),
        ("TLR06", 11, 4),
    ]
    # typing on line 7: its finding described code that is no longer there
    assert overfit.on_change(server, "u", [change(7, 5, 7, 5, "x")])
    assert [d.code for d in st.diagnostics["u"]] == ["TLR01", "TLR06"]
    # deleting lines 0-1 moves the rest up
    assert overfit.on_change(server, "u", [change(0, 0, 2, 0, "")])
    assert [(d.code, d.range.start.line) for d in st.diagnostics["u"]] == [("TLR01", 0), ("TLR06", 9)]
    assert not overfit.on_change(server, "u", [change(5, 0, 5, 0, "y")]), "no finding there: nothing to republish"
    # a line inserted right above a finding leaves its line's text as it was: it moves
    assert overfit.on_change(server, "u", [change(9, 0, 9, 0, "    optimizer.zero_grad()\n")])
    assert [(d.code, d.range.start.line) for d in st.diagnostics["u"]] == [("TLR01", 0), ("TLR06", 10)]
    # the whole text replaced: nothing can be placed any more
    assert overfit.on_change(server, "u", [types.TextDocumentContentChangeWholeDocument(text="")])
    assert st.diagnostics["u"] == []


def test_merge_keeps_unrelated_runtime_findings_and_drops_a_twin_whose_bug_is_gone():
    class Server:
        pass

    server = Server()
    st = overfit._state(server)
    rng = types.Range(types.Position(4, 8), types.Position(4, 23))
    tlr07 = types.Diagnostic(range=rng, message="grads accumulate", code="TLR07", source=overfit.SOURCE)
    tlr01 = types.Diagnostic(range=rng, message="loss did not fall", code="TLR01", source=overfit.SOURCE)
    st.diagnostics["u"] = [tlr07, tlr01]
    tl101 = types.Diagnostic(
        range=rng, message="gradients are never cleared in this loop", code="TL101", source="torchlint"
    )
    merged = overfit.merged_diagnostics(server, "u", [tl101])
    assert [d.code for d in merged] == ["TL101", "TLR01"]
    assert merged[0].related_information[0].message == "confirmed by the overfit check (TLR07): grads accumulate"
    assert tl101.related_information is None, "the analysis' own diagnostic is not changed"
    # TL101 fixed: the evidence for it is stale and goes for good; TLR01 stays
    assert [d.code for d in overfit.merged_diagnostics(server, "u", [])] == ["TLR01"]
    assert [d.code for d in overfit.merged_diagnostics(server, "u", [tl101])] == ["TL101", "TLR01"]
    assert overfit.merged_diagnostics(server, "u", [tl101])[0].related_information is None
