"""Files with \\n, \\r\\n and old-Mac \\r line endings are read alike: `# noqa` suppresses the
same findings, and fixes (`--fix`) write the file's own line ending."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from torchlint.checker import Checker
from torchlint.config import Config

ROOT = Path(__file__).resolve().parents[2]
ENDINGS = {"lf": "\n", "crlf": "\r\n", "cr": "\r"}
LINE_BREAK = re.compile(r"\r\n|\r|\n")

BUGGY = """import torch
from torch import nn

model = nn.Linear(4, 2)
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
criterion = nn.CrossEntropyLoss()

for x, y in train_loader:
    loss = criterion(model(x), y)
    loss.backward(){noqa}
    optimizer.step()
"""


def _with(text: str, ending: str) -> str:
    return LINE_BREAK.sub(ending, text)


def _codes(text: str, tmp_path: Path) -> list[str]:
    return sorted(f.code for f in Checker(Config(), tmp_path).check_file(str(tmp_path / "train.py"), text).findings)


@pytest.mark.parametrize("ending", ENDINGS.values(), ids=ENDINGS.keys())
@pytest.mark.parametrize("noqa", ["  # noqa: TL101", "  # noqa", "  # NOQA:TL101,TL102"])
def test_noqa_suppresses_whatever_the_line_endings(tmp_path, ending, noqa):
    assert _codes(_with(BUGGY.format(noqa=""), ending), tmp_path) == ["TL101"]
    assert _codes(_with(BUGGY.format(noqa=noqa), ending), tmp_path) == []
    # another code on the line does not
    assert _codes(_with(BUGGY.format(noqa="  # noqa: TL102"), ending), tmp_path) == ["TL101"]


@pytest.mark.parametrize("ending", ENDINGS.values(), ids=ENDINGS.keys())
def test_file_level_noqa_whatever_the_line_endings(tmp_path, ending):
    text = _with("import os\n# torchlint: noqa\n" + BUGGY.format(noqa=""), ending)
    assert _codes(text, tmp_path) == []
    # not when it only appears inside a line
    text = _with("import os\nx = 1  # torchlint: noqa\n" + BUGGY.format(noqa=""), ending)
    assert _codes(text, tmp_path) == ["TL101"]


@pytest.mark.parametrize("ending", ENDINGS.values(), ids=ENDINGS.keys())
@pytest.mark.parametrize(
    "above", ["", "\x0c# a form feed (a line break for str.splitlines, not for Python)\n"], ids=["plain", "form-feed"]
)
def test_noqa_in_a_file_that_does_not_tokenize(tmp_path, ending, above):
    """The fallback scan (an unterminated string below) splits lines as the parser does."""
    text = _with(above + BUGGY.format(noqa="  # noqa: TL101") + 'x = """never closed\n', ending)
    assert _codes(text, tmp_path) == ["syntax-error"]


# Fixes of every shape: a line inserted after (TL101), moved (TL102), a loop wrapped (TL203),
# a line inserted before (TL402).
FIXED = {
    "insert.py": BUGGY.format(noqa=""),
    "move.py": (ROOT / "tests/fixtures/rules/TL102/zero_between.py").read_text(encoding="utf-8"),
    "wrap.py": (ROOT / "tests/fixtures/rules/TL203/eval_loop_grad.py").read_text(encoding="utf-8"),
    "init.py": (ROOT / "tests/fixtures/rules/TL402/missing.py").read_text(encoding="utf-8"),
}


def _fix(directory: Path) -> dict[str, bytes]:
    r = subprocess.run(
        [sys.executable, "-m", "torchlint", "check", "--fix", str(directory)], capture_output=True, timeout=120
    )
    assert r.returncode in (0, 1), r.stderr.decode(errors="replace")
    assert b"Traceback" not in r.stderr
    return {name: (directory / name).read_bytes() for name in FIXED}


def test_fixes_keep_the_files_line_endings(tmp_path):
    results = {}
    for key, ending in ENDINGS.items():
        directory = tmp_path / key
        directory.mkdir()
        for name, text in FIXED.items():
            (directory / name).write_bytes(_with(text, ending).encode("utf-8"))
        results[key] = _fix(directory)
    for name, text in FIXED.items():
        lf = results["lf"][name].decode("utf-8")
        assert lf != text, f"{name}: no fix was applied"
        for key, ending in ENDINGS.items():
            fixed = results[key][name].decode("utf-8")
            assert set(LINE_BREAK.findall(fixed)) == {ending}, (
                f"{name} ({key}): {sorted(set(LINE_BREAK.findall(fixed)))}"
            )
            assert fixed == _with(lf, ending), f"{name} ({key}): not the same fix as with \\n endings"
