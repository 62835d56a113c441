"""In-process tests of the server's parts: worker thread, position conversion, settings."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import threading

import pytest
from lsprotocol import types

from torchlint.analysis.findings import Position, Span
from torchlint.lsp.convert import LineIndex
from torchlint.lsp.settings import ServerOptions, build_config, engine_settings, overfit_settings, section
from torchlint.lsp.worker import Worker

pytestmark = [pytest.mark.timeout(60)]


# -- worker -----------------------------------------------------------------------------
def test_worker_survives_a_failing_job_and_reports_it():
    errors = []
    w = Worker(on_error=errors.append)
    try:
        bad = w.submit(lambda: 1 / 0)
        with pytest.raises(ZeroDivisionError):
            bad.result(5)
        assert w.submit(lambda: "alive").result(5) == "alive"
        assert errors and "ZeroDivisionError" in errors[0]
    finally:
        w.stop()


def test_worker_debounces_by_key_and_runs_on_one_thread():
    w = Worker()
    ran, threads = [], set()
    try:
        futures = []
        for i in range(5):

            def job(i=i):
                threads.add(threading.current_thread().name)
                ran.append(i)
                return i

            futures.append(w.submit(job, key="doc", delay=0.1))
        assert futures[-1].result(5) == 4
        assert ran == [4]
        assert all(f.cancelled() for f in futures[:-1])
        assert threads == {"torchlint-analysis"}
        # unkeyed jobs are never replaced, and an earlier due time runs first
        slow = w.submit(lambda: "slow", delay=0.2)
        fast = w.submit(lambda: "fast")
        assert fast.result(5) == "fast" and not slow.done()
        assert slow.result(5) == "slow"
    finally:
        w.stop()


def test_worker_runs_an_urgent_job_before_the_jobs_already_waiting():
    """A request waits for its document's analysis: it goes ahead of other documents' (issue 13)."""
    w = Worker()
    gate, ran = threading.Event(), []
    try:
        w.submit(gate.wait)  # the analysis running when the request arrives
        for name in ("a", "b", "c"):
            w.submit(lambda name=name: ran.append(name), key=name)
        debounced = w.submit(lambda: ran.append("mine (debounced)"), key="mine", delay=0.3)
        urgent = w.submit(lambda: ran.append("mine"), key="mine", urgent=True)  # replaces its debounce
        gate.set()
        urgent.result(5)
        w.submit(lambda: None, delay=0.4).result(5)
        assert ran == ["mine", "a", "b", "c"]
        assert debounced.cancelled()
    finally:
        w.stop()


def test_worker_stop_cancels_waiting_jobs():
    w = Worker()
    later = w.submit(lambda: 1, delay=10)
    w.stop()
    assert later.cancelled()
    assert w.submit(lambda: 1).cancelled()


# -- positions ------------------------------------------------------------------------------
TEXT = 'x = "é😋" + y\r\nz = 1\rw = "日本"\n'


@pytest.mark.parametrize(
    "encoding, col10, w_end",
    [("utf-8", 14, 12), ("utf-16", 11, 8), ("utf-32", 10, 8)],
)
def test_line_index_converts_both_ways(encoding, col10, w_end):
    idx = LineIndex(TEXT, encoding)
    assert idx.lines == ['x = "é😋" + y', "z = 1", 'w = "日本"', ""]  # \r\n, \r and \n break lines
    assert idx.position(Position(0, 10)) == types.Position(0, col10)
    assert idx.from_client(types.Position(0, col10)) == Position(0, 10)
    assert idx.position(Position(2, 8)) == types.Position(2, w_end)
    assert idx.from_client(types.Position(2, w_end)) == Position(2, 8)
    span = Span(Position(0, 4), Position(2, 8))
    assert idx.span_from_client(idx.range(span)) == span


def test_line_index_clamps_out_of_range_positions():
    idx = LineIndex("ab\ncd", "utf-16")
    assert idx.position(Position(0, 99)) == types.Position(0, 2)
    assert idx.position(Position(9, 0)) == types.Position(1, 2)
    assert idx.from_client(types.Position(0, 99)) == Position(0, 2)
    assert idx.from_client(types.Position(9, 0)) == Position(1, 2)


# -- settings ---------------------------------------------------------------------------------
def test_settings_section_and_server_only_keys():
    assert section({"torchlint": {"ignore": ["TL1"]}}) == {"ignore": ["TL1"]}
    assert section({"ignore": ["TL1"]}) == {"ignore": ["TL1"]}
    assert section(None) == {}
    opts = ServerOptions()
    opts.update({"debounce": 25})
    assert opts.debounce == pytest.approx(0.025)
    assert engine_settings({"debounce": 1, "select": ["TL1"]}) == {"select": ["TL1"]}


def test_build_config_layers_and_problems(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[tool.torchlint]\nignore = ["TL101"]\n')
    config, problems = build_config(tmp_path, {"severity": {"TL102": "hint"}}, {"overfit": {"steps": 7, "timeout": 30}})
    assert problems == []
    assert not config.is_enabled("TL101") and config.is_enabled("TL102")
    assert config.severity_for("TL102", None).value == "hint"
    assert overfit_settings(config) == {
        "interpreter": None,
        "overfit": {"steps": 7, "timeout": 30.0},
        "clientOverfitUi": False,
    }
    # later layers win over pyproject.toml
    config, _ = build_config(tmp_path, {"ignore": []})
    assert config.is_enabled("TL101")
    # a broken layer is reported, not raised, and the rest still applies
    config, problems = build_config(tmp_path, {"severity": {"TL101": "loud"}})
    assert problems and "severity" in problems[0]
    (tmp_path / "pyproject.toml").write_text("[tool.torchlint]\nselect = 5\n")
    config, problems = build_config(tmp_path)
    assert problems


# -- transport ----------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_tcp_transport_and_log_file(tmp_path):
    port = _free_port()
    log_file = tmp_path / "server.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "torchlint", "server", "--tcp", f"127.0.0.1:{port}", "--log-file", str(log_file)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        for _ in range(100):
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                break
            except OSError:
                await asyncio.sleep(0.1)
        else:
            pytest.fail("the server did not listen")
        body = b'{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"processId":null,"rootUri":null,"capabilities":{}}}'
        writer.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        await writer.drain()
        header = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        length = int(header.split(b"Content-Length:")[1].split(b"\r\n")[0])
        reply = await asyncio.wait_for(reader.readexactly(length), 10)
        assert b'"torchlint.runOverfitCheck"' in reply and b'"positionEncoding"' in reply
        writer.close()
    finally:
        proc.terminate()
        proc.wait(10)
    assert log_file.exists()
