"""The texts an analysis reads (ruff_db's `files` and `source_text`): the editor's unsaved
buffers over the files on disk, and the last parse of each file (the base of the next one).

Everything here is keyed by the normalised path (`norm_path`), so two spellings of one file
share one entry.
"""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path

from .source import SourceFile, UnreadableFile, decode, reparse

_WORD = re.compile(r"\w+")
MAX_MODULE_BYTES = 2_000_000  # a larger workspace module is never read (generated code, data)

Stamp = tuple[int, int]  # (st_mtime_ns, st_size): a file on disk changed when this did


@functools.lru_cache(maxsize=8192)
def norm_path(path: str) -> str:
    try:
        return str(Path(path).resolve())
    except OSError:
        return path


class DocumentStore:
    def __init__(self) -> None:
        self.overlays: dict[str, str] = {}  # path -> the editor's text (unsaved buffers)
        self._texts: dict[str, tuple[Stamp, str]] = {}  # unopened files, by stamp
        self._sources: dict[str, SourceFile] = {}  # path -> its last parse
        self._seen: dict[str, str | None] = {}  # what `text` gave in this analysis
        self._words: dict[str, tuple[str, frozenset[str]]] = {}  # path -> (text, its identifiers)

    def begin(self) -> None:
        """A new analysis: it sees each file as it was when it first asked for it."""
        self._seen.clear()

    def changed(self, key: str) -> None:
        """`key`'s text changed since this analysis asked for it."""
        self._seen.pop(key, None)

    def set_overlay(self, key: str, text: str | None) -> None:
        self.changed(key)
        if text is None:
            self.overlays.pop(key, None)
        else:
            self.overlays[key] = text

    def knows(self, key: str) -> bool:
        """Was `key` ever read (an overlay or a text from disk)?"""
        return key in self.overlays or key in self._texts

    def read_disk(self, key: str) -> tuple[Stamp, str] | None:
        """The text of an unopened file and its stamp; None when it is missing, too large or
        not text."""
        try:
            st = os.stat(key)
            stamp = (st.st_mtime_ns, st.st_size)
            hit = self._texts.get(key)
            if hit is not None and hit[0] == stamp:
                return hit
            if st.st_size > MAX_MODULE_BYTES:
                return None
            with open(key, "rb") as fh:
                text = decode(fh.read())
        except (OSError, UnreadableFile):
            return None
        self._texts[key] = (stamp, text)
        return stamp, text

    def text(self, key: str) -> str | None:
        """The text the analysis sees for `key`: the editor's, else the disk's."""
        if key in self.overlays:
            return self.overlays[key]
        if key in self._seen:
            return self._seen[key]
        hit = self.read_disk(key)
        text = self._seen[key] = hit[1] if hit is not None else None
        return text

    def words(self, key: str) -> frozenset[str] | None:
        """The identifiers of the text the analysis sees for `key` (once per text: who imports
        a module is asked for every function of it, of every file)."""
        text = self.text(key)
        if text is None:
            return None
        hit = self._words.get(key)
        if hit is None or hit[0] is not text:
            hit = self._words[key] = (text, frozenset(_WORD.findall(text)))
        return hit[1]

    def parse(self, key: str, path: str, text: str) -> tuple[SourceFile, bool]:
        """The parse of `text` (from the last parse of `key` when there is one, see `reparse`),
        and whether that last parse was consumed: its nodes moved into the new tree."""
        base = self._sources.get(key)
        if base is not None and base.text == text:
            return base, False
        self._sources.pop(key, None)
        source = reparse(base, path, text)
        self._sources[key] = source
        return source, base is not None
