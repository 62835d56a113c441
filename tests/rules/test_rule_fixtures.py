"""Every fixture file: exactly the findings written on its lines, no more, no fewer."""

from __future__ import annotations

import pytest

from torchlint.rules import all_rules

from .fixture_support import FIXTURES, actual, expected, rule_fixtures


@pytest.mark.parametrize("path", rule_fixtures(), ids=lambda p: str(p.relative_to(FIXTURES / "rules")))
def test_fixture(path):
    text = path.read_text(encoding="utf-8")
    findings, got = actual(path, text)
    want = expected(text)
    detail = "\n".join(f"  {f.span.start.line + 1}:{f.span.start.column + 1} {f.code} {f.message}" for f in findings)
    assert got == want, f"missing: {sorted(want - got)}\nunexpected: {sorted(got - want)}\nall findings:\n{detail}"


@pytest.mark.parametrize("rule", [r for r in all_rules() if not r.engine_note], ids=lambda r: r.code)
def test_every_rule_has_positive_and_negative_fixtures(rule):
    files = [p for p in rule_fixtures() if p.relative_to(FIXTURES / "rules").parts[0] == rule.code]
    texts = [p.read_text(encoding="utf-8") for p in files]
    assert any(rule.code in {c for _, c in expected(t)} for t in texts), f"{rule.code} has no positive fixture"
    assert any(rule.code not in {c for _, c in expected(t)} for t in texts), f"{rule.code} has no negative fixture"


def test_messages_name_no_line_numbers():
    """Where something else matters, it is a related location (data that moves with edits),
    never "line N" in the text: the editor moves findings of untouched code without re-reading them."""
    import re

    pattern = re.compile(r"\bline \d")
    for path in rule_fixtures():
        findings, _ = actual(path)
        for f in findings:
            texts = [f.message, *(r.message for r in f.related), *([f.fix.message] if f.fix else [])]
            assert not any(pattern.search(t) for t in texts), (path.name, texts)


def test_related_locations_lie_in_the_files_they_name():
    """A related location names the file it points into: a loss built by a caller in another
    file is shown there, not at the same position in the file of the finding."""
    from pathlib import Path

    for path in rule_fixtures():
        findings, _ = actual(path)
        for f in findings:
            for r in f.related:
                lines = Path(r.path).read_text(encoding="utf-8").split("\n")
                assert r.span.end.line < len(lines), (path.name, f.code, r.message, r.path)
                segment = lines[r.span.start.line][r.span.start.column :]
                assert segment.strip(), (path.name, f.code, r.message, r.path)
