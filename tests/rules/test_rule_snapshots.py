"""Every fixture's findings, whole: position, code, severity, message, related locations and
fix, compared with a snapshot file (ruff's approach), so that a message or column regression
is seen, not only a (line, code) one.

After an intended change: `TORCHLINT_UPDATE_SNAPSHOTS=1 python -m pytest tests/rules/test_rule_snapshots.py`
and review the diff of tests/fixtures/snapshots/.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from .fixture_support import FIXTURES, actual, rule_fixtures

SNAPSHOTS = FIXTURES / "snapshots"
UPDATE = os.environ.get("TORCHLINT_UPDATE_SNAPSHOTS") == "1"


def render(path: Path) -> str:
    findings, _ = actual(path)
    out = []
    for f in findings:
        s = f.span
        out.append(
            f"{s.start.line + 1}:{s.start.column + 1}-{s.end.line + 1}:{s.end.column + 1} {f.code} [{f.severity.value}] {f.message}"
        )
        for r in f.related:
            where = os.path.relpath(r.path, path.parent)
            out.append(f"    related {where}:{r.span.start.line + 1}:{r.span.start.column + 1}: {r.message}")
        if f.fix is not None:
            out.append(f"    fix ({f.fix.applicability}): {f.fix.message}")
            for e in f.fix.edits:
                a, b = e.span.start, e.span.end
                out.append(f"        {a.line + 1}:{a.column + 1}-{b.line + 1}:{b.column + 1} {e.content!r}")
    return "\n".join(out) + "\n" if out else ""


def snapshot_path(path: Path) -> Path:
    return SNAPSHOTS / path.relative_to(FIXTURES / "rules").with_suffix(".snap")


@pytest.mark.parametrize("path", rule_fixtures(), ids=lambda p: str(p.relative_to(FIXTURES / "rules")))
def test_snapshot(path):
    got = render(path)
    snap = snapshot_path(path)
    if UPDATE:
        snap.parent.mkdir(parents=True, exist_ok=True)
        snap.write_text(got, encoding="utf-8")
        return
    assert snap.is_file(), f"no snapshot for {path.name}: run with TORCHLINT_UPDATE_SNAPSHOTS=1 and review it"
    assert got == snap.read_text(encoding="utf-8")


def test_no_orphan_snapshots():
    wanted = {snapshot_path(p) for p in rule_fixtures()}
    orphans = [p for p in SNAPSHOTS.rglob("*.snap") if p not in wanted]
    assert not orphans, f"snapshots without a fixture: {orphans}"
