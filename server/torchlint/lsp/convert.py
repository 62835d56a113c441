"""Positions between the engine (code points) and the client (UTF-16 or UTF-8 units).

One `LineIndex` per analysed text: a diagnostic's range must be converted with
the lines of the text it was computed on, not with whatever the editor holds now.
Lines break on \\r\\n, \\r and \\n only, as in the LSP spec and in `ast`
(`str.splitlines` would also break on form feeds and U+2028).
"""

from __future__ import annotations

import re

from lsprotocol import types
from pygls.workspace.position_codec import PositionCodec

from ..analysis.findings import Position, Span

_LINE_BREAK = re.compile(r"\r\n|\r|\n")


class LineIndex:
    def __init__(self, text: str, encoding: str | types.PositionEncodingKind | None = None):
        self.lines = _LINE_BREAK.split(text)
        self.encoding = encoding
        self._units = PositionCodec(encoding or types.PositionEncodingKind.Utf16).impl

    # engine -> client
    def position(self, pos: Position) -> types.Position:
        if pos.line >= len(self.lines):
            last = len(self.lines) - 1
            return types.Position(line=last, character=self._width(self.lines[last]))
        line = self.lines[pos.line]
        col = min(max(pos.column, 0), len(line))
        return types.Position(line=pos.line, character=self._width(line[:col]))

    def range(self, span: Span) -> types.Range:
        return types.Range(start=self.position(span.start), end=self.position(span.end))

    # client -> engine
    def from_client(self, pos: types.Position) -> Position:
        if pos.line >= len(self.lines):
            last = len(self.lines) - 1
            return Position(last, len(self.lines[last]))
        line = self.lines[pos.line]
        if line.isascii():
            return Position(pos.line, min(pos.character, len(line)))
        units = 0
        for i, ch in enumerate(line):
            if units >= pos.character:
                return Position(pos.line, i)
            units += self._units.code_units_for_char(ch)
        return Position(pos.line, len(line))

    def span_from_client(self, rng: types.Range) -> Span:
        return Span(self.from_client(rng.start), self.from_client(rng.end))

    def _width(self, s: str) -> int:
        return len(s) if s.isascii() else self._units.num_units(s)
