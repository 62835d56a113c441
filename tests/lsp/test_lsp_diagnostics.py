"""Diagnostics end to end: content, ranges in both encodings, edits, staleness, robustness."""

from __future__ import annotations

import asyncio
import textwrap
import time

import pytest
from lsp_harness import BUGGY_TRAIN, CLIENTS, codes, engine_findings, expected_range
from lsprotocol import types

from torchlint.fixes import apply_edits
from torchlint.rules import get_rule

pytestmark = [pytest.mark.timeout(240)]


@pytest.mark.parametrize("client_name", CLIENTS)
async def test_open_buggy_file_publishes_rule_diagnostics(start, client_name):
    s = await start(client_name)
    uri = s.open("train.py", BUGGY_TRAIN)
    diags = await s.diagnostics(uri, until=lambda d: d)
    assert codes(diags) == ["TL101"]
    (d,) = diags
    (f,) = engine_findings(s.root / "train.py", BUGGY_TRAIN)
    assert d.range == expected_range(BUGGY_TRAIN, f.span, s.encoding)
    assert d.source == "torchlint"
    assert d.severity == types.DiagnosticSeverity.Error
    assert d.code_description.href == get_rule("TL101").url()
    assert d.data["version"] == 1 and d.data["index"] == 0
    assert d.data["fix"]["edits"], "the fix travels with the diagnostic"
    assert len(d.related_information or []) == len(f.related)
    if f.related:
        assert d.related_information[0].location.uri == uri
        assert d.related_information[0].message == f.related[0].message
    # push xor pull, never both
    await asyncio.sleep(0.3)
    assert (s.client.published == []) == s.pull


@pytest.mark.parametrize("client_name", CLIENTS)
async def test_close_clears_diagnostics(start, client_name):
    s = await start(client_name, pull=False)
    uri = s.open("train.py", BUGGY_TRAIN)
    assert await s.diagnostics(uri, until=lambda d: d)
    s.close(uri)
    for _ in range(100):
        if s.client.published[-1].uri == uri and not s.client.published[-1].diagnostics:
            break
        await asyncio.sleep(0.05)
    assert not s.client.published[-1].diagnostics


@pytest.mark.parametrize("client_name", CLIENTS)
async def test_syntax_error_mid_typing_keeps_other_diagnostics(start, client_name):
    s = await start(client_name)
    uri = s.open("train.py", BUGGY_TRAIN)
    await s.diagnostics(uri, until=lambda d: d)
    # the user is half-way through typing a new function below the loop
    s.replace(uri, BUGGY_TRAIN + "\ndef evaluate(model, loader:\n")
    diags = await s.diagnostics(uri, until=lambda d: "syntax-error" in codes(d))
    assert codes(diags) == ["TL101", "syntax-error"]
    # ... and finishes it
    s.replace(uri, BUGGY_TRAIN + "\ndef evaluate(model, loader):\n    return None\n")
    assert codes(await s.diagnostics(uri, until=lambda d: "syntax-error" not in codes(d))) == ["TL101"]


@pytest.mark.parametrize("client_name", CLIENTS)
async def test_rapid_edits_publish_only_the_latest_version(start, client_name):
    s = await start(client_name, pull=False, options={"debounce": 300})
    uri = s.open("train.py", BUGGY_TRAIN)
    await s.diagnostics(uri, until=lambda d: d)
    await asyncio.sleep(0.5)  # let anything still in flight for version 1 arrive
    before = len(s.client.published)
    lines = BUGGY_TRAIN.splitlines(keepends=True)
    at = len(lines)
    # type "print('done')" one character per change, as an editor sends it
    typed = ""
    for ch in "print('done')":
        rng = types.Range(types.Position(at, len(typed)), types.Position(at, len(typed)))
        typed += ch
        last = s.change(uri, [types.TextDocumentContentChangePartial(range=rng, text=ch)], BUGGY_TRAIN + typed)
    await s.diagnostics(uri, until=lambda d: d)
    await asyncio.sleep(0.5)
    after = s.client.published[before:]
    assert [p.version for p in after] == [last]
    assert codes(after[0].diagnostics) == ["TL101"]


NON_ASCII = textwrap.dedent(
    """\
    import torch
    import torch.nn as nn

    model = nn.Linear(4, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    loss_fn = nn.CrossEntropyLoss()
    loader = [(torch.randn(8, 4), torch.randint(0, 2, (8,))) for _ in range(3)]

    for x, y in loader:
        größe = "😋"; loss = loss_fn(model(x), y)
        étiquette = "日本😋"; loss.backward()
        optimizer.step(lambda: "😋😋")
    """
)


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16"])
async def test_positions_in_negotiated_encoding(start, encoding):
    s = await start("neovim", encodings=[encoding])
    assert s.encoding == encoding
    uri = s.open("train.py", NON_ASCII)
    diags = await s.diagnostics(uri, until=lambda d: d)
    findings = engine_findings(s.root / "train.py", NON_ASCII)
    assert codes(diags) == sorted(f.code for f in findings) == ["TL101"]
    assert diags[0].range == expected_range(NON_ASCII, findings[0].span, encoding)
    assert diags[0].range.start.character > findings[0].span.start.column  # really converted
    for r_lsp, r in zip(diags[0].related_information or [], findings[0].related):
        assert r_lsp.location.range == expected_range(NON_ASCII, r.span, encoding)
    # the quick fix's edit lands at the right place (outgoing) for a range sent in client units (incoming)
    assert findings[0].fix is not None, "TL101 lost its fix for this layout"
    actions = await s.code_actions(uri, diags[0].range, diags)
    fix = next(a for a in actions if a.is_preferred)
    s.apply(fix.edit)
    assert s.texts[uri] == apply_edits(NON_ASCII, findings[0].fix.edits)
    assert await s.diagnostics(uri, until=lambda d: not d) == []


async def test_engine_failure_is_logged_and_server_lives(start):
    s = await start("visual-studio-code")
    deep = "import torch\ny = " + " + ".join(["x"] * 3000) + "\n"
    uri = s.open("deep.py", deep)
    for _ in range(200):  # either the engine copes (diagnostics) or the server says why (log)
        if any("torchlint" in m.message for m in s.client.log_messages) or any(
            p.uri == uri for p in s.client.published
        ):
            break
        await asyncio.sleep(0.05)
    else:
        pytest.fail("neither diagnostics nor a log message")
    s.replace(uri, BUGGY_TRAIN)
    assert codes(await s.diagnostics(uri, until=lambda d: d)) == ["TL101"]


async def test_shutdown_and_exit_are_prompt_while_analysing(start):
    """A long analysis on the worker must not hold up shutdown/exit."""
    s = await start("visual-studio-code")
    block = BUGGY_TRAIN.split("\n", 2)[2]  # without the imports
    big = "import torch\nimport torch.nn as nn\n" + "\n".join(
        block.replace("model", f"model{i}").replace("optimizer", f"optimizer{i}") for i in range(300)
    )
    s.open("big.py", big)
    await asyncio.sleep(0.3)  # the worker is busy now
    t0 = time.monotonic()
    await asyncio.wait_for(s.client.shutdown_async(None), timeout=10)
    s.client.exit(None)
    await asyncio.wait_for(s.client._server.wait(), timeout=10)
    assert time.monotonic() - t0 < 5
    s.capabilities = None  # already shut down: the fixture has nothing left to do
