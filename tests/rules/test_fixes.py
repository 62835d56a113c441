"""`x.in.py` -> `x.out.py`: the rule's fix (safe and unsafe) gives exactly the expected file,
which still compiles and no longer has that finding."""

from __future__ import annotations

import ast

import pytest

from torchlint.fixes import apply_edits, select_fixes

from .fixture_support import FIXTURES, actual, fix_pairs


@pytest.mark.parametrize("pair", fix_pairs(), ids=lambda p: str(p[0].relative_to(FIXTURES / "fixes")))
def test_fix(pair):
    src, want_path = pair
    code = src.relative_to(FIXTURES / "fixes").parts[0]
    text = src.read_text(encoding="utf-8")
    findings, _ = actual(src, text)
    mine = [f for f in findings if f.code == code]
    assert mine, f"{src.name} has no {code} finding to fix"
    chosen = select_fixes(mine, unsafe=True)
    assert chosen, f"{code} offered no fix"
    fixed = apply_edits(text, [e for f in chosen for e in f.fix.edits])
    assert fixed == want_path.read_text(encoding="utf-8")
    ast.parse(fixed)
    _, after = actual(src, fixed)
    assert code not in {c for _, c in after}, f"{code} still reported after the fix: {after}"
