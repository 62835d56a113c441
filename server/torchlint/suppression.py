"""`# noqa: TL101`, bare `# noqa`, and the file-level `# torchlint: noqa`."""

from __future__ import annotations

import io
import re
import tokenize

from .analysis.findings import Finding
from .codes import NOT_SUPPRESSIBLE

_NOQA = re.compile(r"#\s*noqa(?::\s*(?P<codes>[A-Za-z0-9-]+(?:[,\s]+[A-Za-z0-9-]+)*))?", re.IGNORECASE)
# at the start of a line: after \n, \r\n or a lone \r (re.M's `^` knows only \n)
_FILE_NOQA = re.compile(r"(?:\A|(?<=[\r\n]))[ \t\f]*#\s*torchlint\s*:\s*noqa\b", re.IGNORECASE)
# lines break where `ast` breaks them (str.splitlines also breaks on \f, \x1c, U+2028...)
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


class Suppressions:
    def __init__(self, text: str):
        self.file_level = bool(_FILE_NOQA.search(text))
        self._text = text
        self._lines: dict[int, set[str] | None] | None = None

    @property
    def lines(self) -> dict[int, set[str] | None]:
        """0-based line -> codes (None = all); tokenized on first use, i.e. only when there are findings."""
        if self._lines is None:
            self._lines = {}
            for line0, comment in _comments(self._text):
                m = _NOQA.search(comment)
                if not m:
                    continue
                codes = m.group("codes")
                self._lines[line0] = None if codes is None else {c.upper() for c in re.split(r"[,\s]+", codes) if c}
        return self._lines

    def suppressed(self, finding: Finding) -> bool:
        if finding.code in NOT_SUPPRESSIBLE:  # code that does not parse or was not read
            return False
        if self.file_level:
            return True
        lines = self.lines
        for line in {finding.span.start.line, finding.span.end.line}:
            if line in lines:
                codes = lines[line]
                if codes is None or finding.code in codes:
                    return True
        return False


def _comments(text: str):
    """(line, comment) for real comments; falls back to a line scan when tokenizing fails."""
    if "noqa" not in text.lower():
        return []  # tokenizing is the slow part: skip it when there is nothing to find
    # tokenize reads lines up to \n only: a file with \r (old Mac) endings would be one line
    lf = text if "\r" not in text else _LINE_BREAK.sub("\n", text)
    try:
        return [
            (tok.start[0] - 1, tok.string)
            for tok in tokenize.generate_tokens(io.StringIO(lf).readline)
            if tok.type == tokenize.COMMENT
        ]
    except (tokenize.TokenError, SyntaxError, IndentationError):
        return [(i, line[line.index("#") :]) for i, line in enumerate(lf.split("\n")) if "#" in line]
