"""Regression tests for what the fuzzing (test_fuzz.py) found: each input gets a clear answer
(a syntax error where the code does not parse, a TL001 note where it is not text or cannot be
analysed), never a crash."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from torchlint.analysis.findings import Span
from torchlint.analysis.source import UnreadableFile, decode, lone_surrogate, parse, reparse
from torchlint.checker import Checker
from torchlint.config import Config
from torchlint.rules import all_rules

ROOT = Path(__file__).resolve().parents[2]
BUGGY = """import torch
from torch import nn

model = nn.Linear(4, 2)
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
criterion = nn.CrossEntropyLoss()

for x, y in train_loader:
    loss = criterion(model(x), y)
    loss.backward()
    optimizer.step()
"""


def _cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "server")}
    return subprocess.run([sys.executable, "-m", "torchlint", *args], capture_output=True, timeout=120, env=env)


# -- bytes that are not text -------------------------------------------------------------------------
# The coding cookie names the codec: some are not text encodings (LookupError, which has no
# `.reason`), some fail with a bare UnicodeError, some decode to lone surrogates.
BAD_COOKIES = [
    "undefined",
    "punycode",
    "rot13",
    "hex",
    "base64",
    "zlib",
    "uu_codec",
    "unicode_escape",
    "raw_unicode_escape",
]


@pytest.mark.parametrize("codec", BAD_COOKIES)
def test_a_coding_cookie_that_cannot_give_text_is_unreadable(codec):
    data = f"# -*- coding: {codec} -*-\nimport torch\nname = '\\ud800 \\xff'\n".encode()
    with pytest.raises(UnreadableFile) as exc:
        decode(data)
    assert codec.replace("_", "-") in str(exc.value).replace("_", "-") or "surrogate" in str(exc.value)


def test_the_cli_notes_files_it_cannot_decode_and_goes_on(tmp_path):
    for codec in BAD_COOKIES:
        (tmp_path / f"{codec}.py").write_bytes(f"# coding: {codec}\nimport torch\nx = '\\udc80'\n".encode())
    (tmp_path / "train.py").write_text(BUGGY, encoding="utf-8")
    r = _cli("check", str(tmp_path))
    out, err = r.stdout.decode(), r.stderr.decode()
    assert r.returncode == 1 and err == "", err  # TL101 in train.py; the notes never fail
    assert out.count("TL001 not analysed: ") == len(BAD_COOKIES), out
    assert "TL101" in out


def test_fix_leaves_a_file_alone_when_its_encoding_cannot_write_the_fix(tmp_path):
    """`# coding: idna` reads almost anything and writes almost nothing."""
    data = ("# coding: idna\n" + BUGGY).encode()
    (tmp_path / "train.py").write_bytes(data)
    r = _cli("check", "--fix", str(tmp_path))
    assert r.returncode == 1 and r.stderr.decode() == "", r.stderr.decode()
    assert "TL101" in r.stdout.decode()  # not fixed: still reported
    assert (tmp_path / "train.py").read_bytes() == data


# -- text that Python refuses ------------------------------------------------------------------------
def test_a_nul_character_is_a_syntax_error_where_it_is():
    text = BUGGY.replace("loss.backward()", "loss.back\0ward()")
    source = parse("t.py", text)
    assert source.syntax_error is not None
    assert source.syntax_error.span == Span.of(9, 13, 9, 14)
    assert "null" in source.syntax_error.message
    # the rest of the file is still analysed
    codes = [f.code for f in Checker().check_file("/tmp/t.py", BUGGY + "x = '\0'\n").findings]
    assert "syntax-error" in codes and "TL101" in codes


def test_a_lone_surrogate_in_an_editor_buffer_is_a_note_where_it_is(tmp_path):
    text = BUGGY.replace("nn.Linear(4, 2)", "nn.Linear(4, 2)  # é\udc80")
    (note,) = Checker(Config(), tmp_path).check_file(str(tmp_path / "t.py"), text).findings
    assert note.code == "TL001" and "lone surrogate (U+DC80)" in note.message
    assert note.span == Span.of(3, 28, 3, 29)
    assert lone_surrogate(text.replace("\udc80", "")) is None
    # the editor path too, and it analyses again once the character is gone
    editor = Checker(Config(), tmp_path, incremental=True)
    assert [f.code for f in editor.check_file(str(tmp_path / "t.py"), BUGGY).findings] == ["TL101"]
    assert [f.code for f in editor.check_file(str(tmp_path / "t.py"), text).findings] == ["TL001"]
    assert [f.code for f in editor.check_file(str(tmp_path / "t.py"), BUGGY).findings] == ["TL101"]


def test_the_editor_path_reports_the_syntax_error_a_full_parse_reports():
    """`reparse` parses the edited statements alone; an unterminated string is "detected at"
    the last line of what is parsed: the message must be the whole text's."""
    base = "import torch\n\n" + "".join(f"def f{i}():\n    return {i}\n\n" for i in range(6))
    edited = base.replace("    return 2", '    x = """oops')
    full = parse("u.py", edited).syntax_error
    assert full is not None and "detected at line 20" in full.message
    assert reparse(parse("u.py", base), "u.py", edited).syntax_error == full


# -- code nested deeper than Python's stack -------------------------------------------------------------
@pytest.mark.parametrize("incremental", [False, True], ids=["cli", "editor"])
def test_a_rule_out_of_stack_is_a_note_not_an_internal_error(tmp_path, monkeypatch, incremental):
    """Valid code can be nested deeper than a rule's recursion allows (CPython compiles a chain
    of 1,500 elifs): say what was skipped; an internal error would make the CLI exit 2."""
    rule = next(r for r in all_rules() if r.code == "TL401")

    def too_deep(self, ctx):
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr(rule, "check", too_deep)
    checker = Checker(Config(), tmp_path, incremental=incremental)
    for _ in range(2):  # the editor path says it again on the next analysis
        report = checker.check_file(str(tmp_path / "t.py"), BUGGY)
        assert report.errors == []
        notes = [f for f in report.findings if f.code == "TL001"]
        assert len(notes) == 1 and "nested too deeply" in notes[0].message and "TL401" in notes[0].message
        assert "TL101" in [f.code for f in report.findings]


# -- Jedi on very long lines --------------------------------------------------------------------------
@pytest.mark.timeout(120)
def test_a_long_comment_line_does_not_stall_the_analysis(tmp_path):
    """parso's diff parser (Jedi re-parses a file it parsed before through it, in the same
    process: `--fix` passes, full analyses in the editor) is quadratic in the length of a
    comment line: about 15 s for 50,000 characters, a minute for 100,000. (`evaluate` is
    imported from a module that is not there: Jedi is asked what it is.)"""
    lines = (ROOT / "examples" / "clean_train.py").read_text(encoding="utf-8").split("\n")
    comment = "        # " + "é😋" * 25_000
    path = str(tmp_path / "train.py")
    for at in (30, 45):
        text = "\n".join(lines[:at] + [comment] + lines[at:])
        t0 = time.monotonic()
        report = Checker(Config(), tmp_path).check_file(path, text)
        assert report.errors == []
        assert time.monotonic() - t0 < 5


# -- the server's copy of the editor's text -------------------------------------------------------------
@pytest.mark.parametrize("char", ["\x0c", "\x0b", "\x1c", "\x85", "\u2028", "\u2029"], ids=lambda c: f"U+{ord(c):04X}")
async def test_changes_below_a_character_str_splitlines_breaks_at(start, char):
    """Lines break at \\r\\n, \\r and \\n only (LSP); pygls's `str.splitlines` also breaks at
    form feeds and the like, and applied the change below one to the wrong line."""
    from lsprotocol import types

    s = await start("neovim", encodings=["utf-16"], pull=False)
    uri = s.open("ff.py", f"import torch\nx = 1  # a page{char}break\ny = (\n")
    assert [d.code for d in await s.diagnostics(uri)] == ["syntax-error"]
    rng = types.Range(types.Position(2, 5), types.Position(2, 5))
    s.change(
        uri,
        [types.TextDocumentContentChangePartial(range=rng, text=")")],
        f"import torch\nx = 1  # a page{char}break\ny = ()\n",
    )
    assert await s.diagnostics(uri) == []
