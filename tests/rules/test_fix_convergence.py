"""`--fix` converges and never makes code worse, on every rule fixture (reduced real code):

1. after fixing, no finding that was not there before;
2. the fixed findings are gone;
3. a second `--fix` changes nothing (idempotent);
4. the fixed file compiles (when the input did).
Both with safe fixes only and with `--unsafe-fixes`."""

from __future__ import annotations

from collections import Counter

import pytest

from torchlint.fixes import apply_edits, select_fixes

from .fixture_support import FIXTURES, checker_for, rule_fixtures

MAX_PASSES = 5  # as `torchlint check --fix`


def fix_until_stable(path, text: str, unsafe: bool):
    """(fixed text, Counter of codes fixed) after applying fixes pass by pass, as the CLI does."""
    checker = checker_for(path)
    fixed: Counter = Counter()
    for _ in range(MAX_PASSES):
        chosen = select_fixes(checker.check(str(path), text), unsafe)
        if not chosen:
            break
        text = apply_edits(text, [e for f in chosen for e in f.fix.edits])
        fixed.update(f.code for f in chosen)
    return text, fixed


@pytest.mark.parametrize("unsafe", [False, True], ids=["safe", "unsafe"])
@pytest.mark.parametrize("path", rule_fixtures(), ids=lambda p: str(p.relative_to(FIXTURES / "rules")))
def test_fix_converges(path, unsafe):
    text = path.read_text(encoding="utf-8")
    before = Counter(f.code for f in checker_for(path).check(str(path), text))
    fixed_text, fixed = fix_until_stable(path, text, unsafe)
    if not fixed:
        return
    try:
        compile(text, str(path), "exec")
    except SyntaxError:
        pass  # broken input (an unfinished exercise): "no new finding" covers new syntax errors
    else:
        compile(fixed_text, str(path), "exec")
    after = Counter(f.code for f in checker_for(path).check(str(path), fixed_text))
    new = after - before
    assert not new, f"the fixes introduced {dict(new)}:\n{fixed_text}"
    for code, n in fixed.items():
        assert after[code] <= max(before[code] - n, 0), (
            f"{code}: {before[code]} before, {n} fixed, {after[code]} left:\n{fixed_text}"
        )
    again, more = fix_until_stable(path, fixed_text, unsafe)
    assert again == fixed_text and not more, f"a second --fix changed the file again ({dict(more)})"
