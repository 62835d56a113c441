"""End to end: the overfit commands through a real LSP client (pytest-lsp) and real torch.

The server is tests/probe/lsp_server.py: a bare pygls server that only calls
torchlint.lsp.overfit.register, so these tests do not depend on the main server.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types
from pygls.uris import from_fs_path
from pytest_lsp import ClientServerConfig, LanguageClient

HERE = Path(__file__).resolve().parent
PROBE = HERE.parent / "probe"
SCRIPTS = PROBE / "scripts"
SERVER = PROBE / "lsp_server.py"

sys.path.insert(0, str(PROBE))
from probe_support import group_gone

pytestmark = pytest.mark.timeout(90)


@pytest_lsp.fixture(
    config=ClientServerConfig(
        server_command=[sys.executable, str(SERVER)],
        server_env={**os.environ, "TL_TEST_STEPS": "40", "TL_TEST_TIMEOUT": "60"},
    )
)
async def client(lsp_client: LanguageClient):
    results: list = []
    lsp_client.overfit_results = results  # type: ignore[attr-defined]

    @lsp_client.feature("torchlint/overfitResult")
    def _on_result(params):
        results.append(params)

    await lsp_client.initialize_session(
        types.InitializeParams(
            capabilities=types.ClientCapabilities(window=types.WindowClientCapabilities(work_done_progress=True)),
            root_uri=from_fs_path(str(SCRIPTS)),
            workspace_folders=[types.WorkspaceFolder(uri=from_fs_path(str(SCRIPTS)), name="scripts")],
        )
    )
    yield
    await lsp_client.shutdown_session()


def _run(client: LanguageClient, script: str, line: int | None = None):
    return client.workspace_execute_command_async(
        types.ExecuteCommandParams(
            command="torchlint.runOverfitCheck", arguments=[{"uri": from_fs_path(str(SCRIPTS / script)), "line": line}]
        )
    )


async def _wait_for_progress(client: LanguageClient, min_step_reports: int = 2) -> str:
    for _ in range(600):
        for token, reports in client.progress_reports.items():
            steps = [
                r
                for r in reports
                if isinstance(r, types.WorkDoneProgressReport) and (r.message or "").startswith("step ")
            ]
            if len(steps) >= min_step_reports:
                return str(token)
        await asyncio.sleep(0.05)
    raise AssertionError("no step progress arrived")


async def test_run_reports_progress_result_and_diagnostics(client: LanguageClient):
    result = await _run(client, "no_zero_grad.py", line=12)
    assert result["verdict"] in ("FAIL", "PARTIAL")
    assert result["steps"] == 40 and len(result["losses"]) == 40
    codes = {f["code"] for f in result["findings"]}
    assert {"TLR01", "TLR07"} <= codes

    # $/progress: begin (cancellable), step reports with percentages, end.
    ((_token, reports),) = client.progress_reports.items()
    assert isinstance(reports[0], types.WorkDoneProgressBegin) and reports[0].cancellable
    pcts = [r.percentage for r in reports if isinstance(r, types.WorkDoneProgressReport) and r.percentage]
    assert pcts and pcts == sorted(pcts) and pcts[-1] == 100
    assert any("loss" in (r.message or "") for r in reports if isinstance(r, types.WorkDoneProgressReport))
    assert isinstance(reports[-1], types.WorkDoneProgressEnd)

    # custom notification with the report, and a showMessage with the verdict.
    for _ in range(100):
        if client.overfit_results:
            break
        await asyncio.sleep(0.05)
    assert client.overfit_results[-1].verdict == result["verdict"]  # pygls gives a namedtuple
    assert any("overfit check" in m.message and result["verdict"] in m.message for m in client.messages)

    # runtime findings as diagnostics on the script, at the backward() line.
    uri = from_fs_path(str(SCRIPTS / "no_zero_grad.py"))
    diags = client.diagnostics[uri]
    assert all(d.source == "torchlint-overfit" for d in diags)
    tlr07 = [d for d in diags if d.code == "TLR07"]
    assert tlr07 and tlr07[0].range.start.line == 13  # `loss.backward()` is line 14 (1-based)


async def test_cancel_through_work_done_progress_cancel(client: LanguageClient):
    task = asyncio.ensure_future(_run(client, "slow.py"))
    token = await _wait_for_progress(client)
    t0 = time.monotonic()
    client.protocol.notify(types.WINDOW_WORK_DONE_PROGRESS_CANCEL, types.WorkDoneProgressCancelParams(token=token))
    result = await asyncio.wait_for(task, 15)
    assert time.monotonic() - t0 < 10
    assert result["verdict"] == "ERROR" and "cancelled" in result["error"]
    assert 1 <= result["steps"] < 40
    assert group_gone(result["pid"])


async def test_cancel_command_and_one_run_per_workspace(client: LanguageClient):
    task = asyncio.ensure_future(_run(client, "slow.py"))
    await _wait_for_progress(client)
    busy = await _run(client, "mlp_ok.py")
    assert busy["verdict"] == "ERROR" and busy.get("busy") and "already running" in busy["error"]
    cancelled = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command="torchlint.cancelOverfitCheck", arguments=[])
    )
    assert cancelled == {"cancelled": 1}
    result = await asyncio.wait_for(task, 15)
    assert result["verdict"] == "ERROR" and "cancelled" in result["error"]
    assert group_gone(result["pid"])
    # the workspace is free again
    again = await _run(client, "mlp_ok.py")
    assert again["verdict"] == "PASS"
    uri = from_fs_path(str(SCRIPTS / "mlp_ok.py"))
    assert client.diagnostics.get(uri, []) == []
