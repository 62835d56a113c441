"""What each analysis built and read (ruff_db's `parsed_module` and its revisions): the
semantic model of each file per content, which files an analysis read and at which revision,
the snapshots the editor's partial re-analysis starts from, and summaries of other files'
functions kept across analyses.

A file's revision is the content hash of the text its model was built from: an analysis whose
reads all still have their revision would find the same again (a model rebuilt from the same
text, as the analysis of an opened file does, is the same revision), unless one of them read
the analysed file itself: its answers may change with the edit.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .documents import MAX_MODULE_BYTES, DocumentStore, Stamp, norm_path
from .source import SourceFile

if TYPE_CHECKING:
    from .incremental import Snapshot
    from .resolve import FunctionRef, SemanticModel

Revision = str | None  # the content hash of a file's text; None: no model (missing, unreadable)
ModelFactory = Callable[[SourceFile, str], "SemanticModel"]  # (parse, normalised path) -> model


def content_revision(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


class AnalysisDatabase:
    def __init__(self, documents: DocumentStore, make_model: ModelFactory):
        self._documents = documents
        self._make_model = make_model
        self._models: dict[str, tuple[str, SemanticModel]] = {}  # path -> (revision, model)
        self._disk: dict[str, tuple[Stamp, str, SemanticModel]] = {}  # unopened files by stamp
        self._snapshots: dict[str, Snapshot] = {}  # path -> what its last analysis left (editor path)
        self._deps: dict[str, set[str]] = {}  # analysed path -> workspace paths it read
        self._recorders: list[set[str]] = []  # paths read while a kept summary is made
        self._checked: dict[str, tuple[SemanticModel | None, Revision]] = {}  # looked up in this analysis
        self.current: str | None = None

    # -- one analysis ---------------------------------------------------------------------
    def begin(self, key: str) -> None:
        """Start recording which workspace files the analysis of `key` reads."""
        self.current = key
        self._deps[key] = set()
        self._checked = {}

    def forget(self, key: str) -> bool:
        """Drop what was built from `key` (it changed on disk); False if nothing was."""
        self.changed(key)
        self._snapshots.pop(key, None)
        known = key in self._disk or key in self._models
        self._models.pop(key, None)
        self._disk.pop(key, None)
        return known

    # -- models ------------------------------------------------------------------------
    def source_for_text(self, path: str, text: str) -> SourceFile:
        """The parse of `text`, from the last parse of `path` when there is one (`reparse`)."""
        key = norm_path(path)
        source, consumed = self._documents.parse(key, path, text)
        if consumed:
            # its nodes moved into the new tree: the models built on it are gone
            self._disk.pop(key, None)
            self._models.pop(key, None)
        return source

    def model_for_text(self, path: str, text: str, fresh: bool = False) -> SemanticModel:
        """The semantic model of `path` with this text. `fresh`: a new one even when the text
        has not changed (its answers may rest on other files, which may have)."""
        return self._model_for_text(path, text, fresh)[1]

    def _model_for_text(self, path: str, text: str, fresh: bool = False) -> tuple[str, SemanticModel]:
        key = norm_path(path)
        revision = content_revision(text)
        cached = self._models.get(key)
        if cached and cached[0] == revision and not fresh:
            return cached
        model = self._make_model(self.source_for_text(path, text), key)
        self._models[key] = (revision, model)
        return revision, model

    def changed(self, key: str) -> None:
        """`key`'s text changed (the editor's, or on disk) since the analysis looked at it."""
        self._checked.pop(key, None)

    def model_for_path(self, path: Path) -> SemanticModel | None:
        """The model of a workspace file as this analysis sees it (looked up on disk once per
        analysis: other files' questions ask for the same few files again and again)."""
        key = norm_path(str(path))
        self._used(key)
        return self._now(key)[0]

    def _read(self, path: Path) -> tuple[SemanticModel | None, Revision]:
        key = norm_path(str(path))
        self._used(key)
        text = self._documents.overlays.get(key)
        if text is not None:
            revision, model = self._model_for_text(key, text)
            return model, revision
        try:
            st = os.stat(key)
        except OSError:
            return None, None
        stamp = (st.st_mtime_ns, st.st_size)
        hit = self._disk.get(key)
        if hit is not None and hit[0] == stamp:
            return hit[2], hit[1]
        if st.st_size > MAX_MODULE_BYTES:
            return None, None
        read = self._documents.read_disk(key)
        if read is None:
            return None, None
        revision, model = self._model_for_text(key, read[1])
        self._disk[key] = (stamp, revision, model)
        return model, revision

    def _now(self, key: str) -> tuple[SemanticModel | None, Revision]:
        """The model of `key` now and its revision (checked once per analysis: a stat, or the
        editor's text)."""
        if key not in self._checked:
            self._checked[key] = self._read(Path(key))
        return self._checked[key]

    # -- what an analysis read --------------------------------------------------------------
    def _used(self, key: str) -> None:
        if self.current is not None:
            self._deps.setdefault(self.current, set()).add(key)
        for recorder in self._recorders:
            recorder.add(key)

    def dependents(self, key: str) -> set[str]:
        return {p for p, used in self._deps.items() if key in used and p != key}

    def add_dependencies(self, key: str, deps: dict[str, Any]) -> None:
        self._deps.setdefault(key, set()).update(deps)

    def reads(self, key: str) -> set[str]:
        return set(self._deps.get(key, ()))

    def dependency_revisions(self, key: str) -> dict[str, Revision]:
        """The revision of every file the last analysis of `key` read."""
        out: dict[str, Revision] = {}
        for p in self._deps.get(key, ()):
            hit = self._models.get(p)
            out[p] = hit[0] if hit else None
        return out

    def unchanged_since(self, deps: dict[str, Any]) -> bool:
        """Do the files an earlier analysis read still have the revisions it read, and none of
        them read the file being analysed? (The answers of a file that imports this one may
        change with this file's edit, whatever its own revision.)"""
        current = self.current
        return all(
            p == current or (current not in self._deps.get(p, ()) and self._now(p)[1] == rev) for p, rev in deps.items()
        )

    # -- snapshots (the editor's partial re-analysis) ----------------------------------------
    def take_snapshot(self, key: str) -> Snapshot | None:
        return self._snapshots.pop(key, None)

    def keep_snapshot(self, key: str, snap: Snapshot | None) -> None:
        if snap is not None:
            self._snapshots[key] = snap

    # -- summaries of other files' functions, across analyses ----------------------------
    def start_recording(self) -> None:
        self._recorders.append(set())

    def stop_recording(self) -> set[str]:
        return self._recorders.pop()

    def kept_summary(self, ref: FunctionRef) -> Any:
        """The summary of `ref` (a function of another file) made by an earlier analysis, if
        every file it read still has the model it read then. (Models, not revisions: a summary
        holds nodes of the models it was made from.)"""
        hit = ref.model.kept_summaries.get(id(ref.node))
        if hit is None or hit[0] is not ref.node:
            return None
        if all(self._now(p)[0] is m for p, m in hit[2].items()):
            return hit[1]
        del ref.model.kept_summaries[id(ref.node)]
        return None

    def keep_summary(self, ref: FunctionRef, summary: Any, read: set[str]) -> None:
        paths = read | {norm_path(ref.model.source.path)}
        if self.current in paths:
            return  # it rests on the file being analysed, which the next edit changes
        models = {p: self._models[p][1] if p in self._models else None for p in paths}
        # kept on the callee's model: replaced with it when that file changes
        ref.model.kept_summaries[id(ref.node)] = (ref.node, summary, models)
