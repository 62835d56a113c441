"""Syntax errors are positioned in the text we are given (the editor's unsaved buffer), never
in the file on disk: CPython 3.11, given a real file name, reads the error's line from disk and
computes the column from that line."""

from __future__ import annotations

import re
import sys
import warnings
from pathlib import Path

import pytest

from torchlint.analysis.findings import Span
from torchlint.analysis.source import parse, reparse
from torchlint.checker import Checker
from torchlint.config import Config

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lsp"))
from lsp_harness import codes, expected_range

ON_DISK = "import torch\n\nx = 1\ny = [1, 2, 3]\nprint(x, y)\n"
# the same file being edited: a non-ASCII string before the error, on the same line
BUFFER = 'import torch\n\ns = "éééé" + (\ny = [1, 2, 3]\nprint(x, y)\n'
ERROR_AT = Span.of(2, 13, 2, 14)  # the "(" that is never closed, in characters of BUFFER


def _syntax_error(findings):
    (f,) = [f for f in findings if f.code == "syntax-error"]
    return f


def test_checker_positions_the_error_in_the_buffer(tmp_path):
    path = tmp_path / "train.py"
    path.write_text(ON_DISK, encoding="utf-8")
    f = _syntax_error(Checker(Config(), tmp_path).check_file(str(path), BUFFER).findings)
    assert f.span == ERROR_AT, f.message
    assert f.path == str(path)  # the name we show is still the real one
    assert "never closed" in f.message


def test_editor_path_positions_the_error_in_the_buffer(tmp_path):
    path = tmp_path / "train.py"
    path.write_text(ON_DISK, encoding="utf-8")
    editor = Checker(Config(), tmp_path, incremental=True)
    editor.set_overlay(str(path), ON_DISK)
    assert editor.check_file(str(path), ON_DISK).findings == []
    # typed, not saved: the re-parse of the edited statements must not read the disk either
    editor.set_overlay(str(path), BUFFER)
    assert _syntax_error(editor.check_file(str(path), BUFFER).findings).span == ERROR_AT


@pytest.mark.parametrize("other_line", ["", "x", "é" * 40, "(" * 30], ids=["empty", "ascii", "non-ascii", "brackets"])
def test_parse_never_reads_the_disk(tmp_path, monkeypatch, other_line):
    """Whatever the file on disk (or a file named like the parser's name in the working
    directory) holds, the error's position comes from the text."""
    disk = f"a = 1\n{other_line}\n" * 3
    path = tmp_path / "m.py"
    path.write_text(disk, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    for name in ("<unknown>", "<string>", "<torchlint>", "m.py"):
        (tmp_path / name).write_text(disk, encoding="utf-8")
    for source in (parse(str(path), BUFFER), reparse(parse(str(path), ON_DISK), str(path), BUFFER)):
        assert source.syntax_error is not None
        assert source.syntax_error.span == ERROR_AT


def test_parser_warnings_are_not_issued(tmp_path):
    """`invalid escape sequence`, `invalid decimal literal`: for whoever runs the code, not on
    the stderr of a linter that reads it."""
    text = 'import torch\npattern = "\\d+"\nx = 1if True else 2\n'
    with warnings.catch_warnings(record=True) as issued:
        warnings.simplefilter("always")
        Checker(Config(), tmp_path).check_file(str(tmp_path / "w.py"), text)
    assert [str(w.message) for w in issued] == []


async def test_server_positions_the_error_in_the_buffer(start):
    s = await start("neovim", encodings=["utf-16"], files={"train.py": ON_DISK})
    uri = s.open("train.py", BUFFER)  # opened with unsaved text: the disk has ON_DISK
    assert (s.root / "train.py").read_text(encoding="utf-8") == ON_DISK
    diags = await s.diagnostics(uri, until=lambda d: "syntax-error" in codes(d))
    (d,) = [d for d in diags if d.code == "syntax-error"]
    assert d.range == expected_range(BUFFER, ERROR_AT, s.encoding)
    # and after an unsaved edit that moves the error along the line
    moved = BUFFER.replace('s = "éééé"', 's = "éééé😋😋"')
    s.replace(uri, moved)
    diags = await s.diagnostics(uri, until=lambda d: "syntax-error" in codes(d))
    (d,) = [d for d in diags if d.code == "syntax-error"]
    col = re.split(r"\r\n|\r|\n", moved)[2].index("(")
    assert d.range == expected_range(moved, Span.of(2, col, 2, col + 1), s.encoding)
