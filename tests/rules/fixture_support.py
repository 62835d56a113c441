"""Fixture format: a Python file per case, expected findings written on the line.

    loss.backward()  # expect: TL101
    x = 1            # expect: TL102, TL104

A file with no `# expect:` must produce no finding at all (a negative case).
Fix pairs: `name.in.py` -> `name.out.py` under tests/fixtures/fixes/<CODE>/.
"""

from __future__ import annotations

import re
from pathlib import Path

from torchlint.analysis.workspace import Workspace
from torchlint.checker import Checker
from torchlint.config import Config

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
_EXPECT = re.compile(r"#\s*expect:\s*(?P<codes>[A-Za-z0-9-]+(?:\s*,\s*[A-Za-z0-9-]+)*)")


def expected(text: str) -> set[tuple[int, str]]:
    out = set()
    for i, line in enumerate(text.splitlines(), start=1):
        m = _EXPECT.search(line)
        if m:
            out |= {(i, c.strip()) for c in m.group("codes").split(",")}
    return out


def checker_for(path: Path) -> Checker:
    # Each case directory is its own little workspace (cross-file cases hold several files).
    return Checker(Config(), workspace=Workspace(path.parent))


def actual(path: Path, text: str | None = None):
    text = path.read_text(encoding="utf-8") if text is None else text
    findings = checker_for(path).check(str(path), text)
    return findings, {(f.span.start.line + 1, f.code) for f in findings}


def rule_fixtures() -> list[Path]:
    return sorted(p for p in (FIXTURES / "rules").rglob("*.py") if not p.name.startswith("_"))


def fix_pairs() -> list[tuple[Path, Path]]:
    return sorted((p, p.with_name(p.name.replace(".in.py", ".out.py"))) for p in (FIXTURES / "fixes").rglob("*.in.py"))
