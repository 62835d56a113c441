"""The open documents the features share.

The loop keeps a snapshot of every open document (a notebook's is the program of its code
cells); analysis jobs read the newest snapshot when they run, on the worker, and keep the
newest analysis of each document. A result for a version the editor has already left behind
is never delivered.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pygls.uris import from_fs_path, to_fs_path

from ..analysis.source import UnreadableFile, decode
from .diagnostics import Analysis

if TYPE_CHECKING:
    from .notebooks import NotebookState


@dataclass(frozen=True)
class DocSnapshot:
    version: int | None
    text: str


class Documents:
    def __init__(self) -> None:
        self.snapshots: dict[str, DocSnapshot] = {}  # written on the loop only
        self.notebooks: dict[str, NotebookState] = {}  # open notebooks (their programs are in `snapshots`)
        self.analyses: dict[str, Analysis] = {}  # written on the worker only

    def matches(self, analysis: Analysis) -> bool:
        """`analysis` is of the document's current text (its configuration aside)."""
        snap = self.snapshots.get(analysis.uri)
        return snap is not None and snap.version == analysis.version and snap.text == analysis.text

    def text_of(self, path: str) -> str | None:
        """The editor's text of `path` when it is open, else the file on disk."""
        snap = self.snapshots.get(from_fs_path(str(Path(path).resolve())) or "")
        return snap.text if snap is not None else disk_text(path)

    def notebook_of(self, cell_uri: str) -> str | None:
        """The URI of the open notebook that holds `cell_uri` as a Python code cell."""
        for nb_uri, state in self.notebooks.items():
            if cell_uri in state.cell_versions:
                return nb_uri
        return None

    def notebook_cell(self, uri: str) -> tuple[str, dict[int, str]] | None:
        """For a notebook cell's URI: the notebook's URI and its code cells' URIs by number."""
        nb_uri = self.notebook_of(uri)
        return (nb_uri, dict(self.notebooks[nb_uri].cell_uris)) if nb_uri else None


def disk_text(path: str) -> str | None:
    try:
        return decode(Path(path).read_bytes())
    except (OSError, UnreadableFile):
        return None


def fs_path(uri: str) -> str:
    return to_fs_path(uri) or uri
