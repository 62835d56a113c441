"""What a rule is: a code, a name, a default severity, docs, and one check function."""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, ClassVar, Literal

from ..analysis.findings import Finding, Severity

if TYPE_CHECKING:
    from ..analysis.context import FileContext

DOCS_URL = "https://github.com/torchlint/torchlint/blob/main/docs/rules/{code}.md"


class Rule:
    code: ClassVar[str]
    name: ClassVar[str]
    severity: ClassVar[Severity]
    fix: ClassVar[Literal["safe", "unsafe"] | None] = None
    engine_note: ClassVar[bool] = False  # a note the pipeline reports itself (TL001); check() finds nothing
    # findings that rest on facts of the whole file (every loss it computes, every name it
    # reads), not only on the statements linked to their own: the editor's partial
    # re-analysis runs such a rule over the whole file
    whole_file: ClassVar[bool] = False

    def check(self, ctx: FileContext) -> Iterable[Finding]:  # pragma: no cover - abstract
        raise NotImplementedError

    # -- documentation (generated docs and `torchlint rule` read these) --------
    @classmethod
    def doc(cls) -> str:
        return inspect.cleandoc(cls.__doc__ or "")

    @classmethod
    def summary(cls) -> str:
        """The first paragraph of "What it does"."""
        m = re.search(r"## What it does\s*\n(.+?)(\n\s*\n|$)", cls.doc(), re.DOTALL)
        return " ".join(m.group(1).split()) if m else cls.name

    @classmethod
    def example_fix(cls) -> str | None:
        m = re.search(r"## Use instead\s*\n```python\n(.+?)```", cls.doc(), re.DOTALL)
        return m.group(1).rstrip() if m else None

    @classmethod
    def url(cls) -> str:
        return DOCS_URL.format(code=cls.code)

    @classmethod
    def markdown(cls) -> str:
        fix = {
            "safe": "safe fix available",
            "unsafe": "unsafe fix available (applied only on request)",
            None: "no fix",
        }[cls.fix]
        return f"# {cls.name} ({cls.code})\n\nDefault severity: {cls.severity.value}; {fix}.\n\n{cls.doc()}\n"
