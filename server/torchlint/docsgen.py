"""Generate docs/rules/ from the rule docstrings: `python -m torchlint.docsgen [DIR]`.

A test regenerates into a temporary directory and fails when the committed docs are stale.
"""

from __future__ import annotations

import sys
from pathlib import Path

from .codes import all_rules


def render() -> dict[str, str]:
    pages = {f"{r.code}.md": r.markdown() for r in all_rules()}
    rows = "\n".join(
        f"| [{r.code}]({r.code}.md) | {r.name} | {r.severity.value} | {r.fix or 'none'} | {r.summary()} |"
        for r in all_rules()
    )
    pages["index.md"] = (
        "# torchlint rules\n\n"
        "Generated from the rule docstrings by `python -m torchlint.docsgen`; do not edit by hand.\n\n"
        "| code | name | severity | fix | what it does |\n|---|---|---|---|---|\n" + rows + "\n"
    )
    return pages


def write(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in render().items():
        path = directory / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[2] / "docs" / "rules"
    for p in write(target):
        print(p)
