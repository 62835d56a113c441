"""docs/rules/ is generated from the rule docstrings and must be current."""

from pathlib import Path

import pytest

from torchlint.docsgen import render
from torchlint.rules import all_rules

DOCS = Path(__file__).resolve().parents[2] / "docs" / "rules"


def test_docs_are_current():
    pages = render()
    stale = [
        name
        for name, text in pages.items()
        if not (DOCS / name).is_file() or (DOCS / name).read_text(encoding="utf-8") != text
    ]
    assert not stale, f"docs/rules is stale for {stale}: run `python -m torchlint.docsgen`"
    extra = {p.name for p in DOCS.glob("*.md")} - set(pages)
    assert not extra, f"docs/rules has pages for no rule: {extra}"


@pytest.mark.parametrize("rule", all_rules(), ids=lambda r: r.code)
def test_rule_doc_has_ruff_sections(rule):
    doc = rule.doc()
    for section in (
        "## What it does",
        "## Why is this bad?",
        "## Example",
        "## Use instead",
        "## Fix safety",
        "## References",
    ):
        assert section in doc, f"{rule.code} docstring lacks {section}"
    assert rule.summary() and rule.summary() != rule.name
