"""`torchlint check`'s per-file result cache (ruff's `.ruff_cache` is the model).

A file's findings are kept with what they rest on: the engine (torchlint's version and the
stamps of its own source files), the configuration, the file's content hash, the content hashes
of the workspace files its analysis read (cross-file facts: an imported helper, callers in
importers), and, when the analysis looked for importers, the list of the workspace's Python
files. A result is reused only when all of them are unchanged; anything else analyses again.

The cache lives in `$TORCHLINT_CACHE_DIR`, else `.torchlint_cache/` at the project root (with a
`.gitignore` so it is never committed). A cache that cannot be read or written is ignored.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

from .. import __version__
from ..analysis.findings import Edit, Finding, Fix, Position, Related, Severity, Span

CACHE_ENV = "TORCHLINT_CACHE_DIR"
DIR_NAME = ".torchlint_cache"
_FORMAT = 1


def content_hash(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


def engine_fingerprint() -> str:
    """torchlint's version and the stamps of its own modules: a development checkout that
    changes a rule invalidates what the old rule found."""
    package = Path(__file__).resolve().parents[1]
    h = hashlib.blake2b(digest_size=16)
    h.update(f"{_FORMAT}:{__version__}:{sys.version_info[:2]}".encode())
    for path in sorted(package.rglob("*.py")):
        st = path.stat()
        h.update(f"{path.relative_to(package)}:{st.st_mtime_ns}:{st.st_size}".encode())
    return h.hexdigest()


def config_fingerprint(config: Any, use_jedi: bool) -> str:
    """Everything in the configuration that can change a finding (not the warnings about it)."""
    data = {f.name: getattr(config, f.name) for f in fields(config) if f.name != "warnings"}
    return hashlib.blake2b(f"{sorted(data.items(), key=str)!r}:{use_jedi}".encode(), digest_size=16).hexdigest()


class Cache:
    def __init__(self, directory: Path, key: str):
        self.directory = directory
        self.key = key  # engine + configuration
        self.hits = 0
        self.stores = 0
        self._hashes: dict[str, str | None] = {}  # path -> content hash, once per run
        self._usable = True

    @staticmethod
    def location(root: Path) -> Path:
        return Path(os.environ.get(CACHE_ENV) or root / DIR_NAME)

    # -- reading -----------------------------------------------------------------------
    def get(self, path: Path, text: str, file_list: callable) -> list[Finding] | None:
        entry = self._read(path)
        if entry is None or entry.get("key") != self.key or entry.get("hash") != content_hash(text):
            return None
        for dep, digest in entry.get("deps", {}).items():
            if self._hash_of(dep) != digest:
                return None
        if entry.get("files") is not None and entry["files"] != file_list():
            return None  # a Python file appeared or went away: importers may have changed
        try:
            findings = [_finding(f) for f in entry["findings"]]
        except (KeyError, TypeError, ValueError):
            return None
        self.hits += 1
        return findings

    def _read(self, path: Path) -> dict | None:
        if not self._usable:
            return None
        try:
            return json.loads(self._entry(path).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def _hash_of(self, path: str) -> str | None:
        if path not in self._hashes:
            try:
                from ..analysis.source import decode

                self._hashes[path] = content_hash(decode(Path(path).read_bytes()))
            except Exception:
                self._hashes[path] = None
        return self._hashes[path]

    # -- writing -----------------------------------------------------------------------
    def put(self, path: Path, text: str, findings: list[Finding], deps: set[str], files: str | None) -> None:
        if not self._usable:
            return
        entry = {
            "key": self.key,
            "hash": content_hash(text),
            "deps": {d: self._hash_of(d) for d in sorted(deps) if Path(d).resolve() != path.resolve()},
            "files": files,
            "findings": [_to_json(f) for f in findings],
        }
        try:
            self._ensure_dir()
            target = self._entry(path)
            fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".tmp-")
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(entry, fh)
            os.replace(tmp, target)  # atomic: parallel workers never read half an entry
            self.stores += 1
        except OSError:
            self._usable = False  # read-only checkout, full disk: run without a cache

    def _entry(self, path: Path) -> Path:
        return self.directory / (hashlib.blake2b(str(path.resolve()).encode(), digest_size=16).hexdigest() + ".json")

    def _ensure_dir(self) -> None:
        if not self.directory.is_dir():
            self.directory.mkdir(parents=True, exist_ok=True)
            (self.directory / ".gitignore").write_text("# Automatically created by torchlint.\n*\n", encoding="utf-8")
            (self.directory / "CACHEDIR.TAG").write_text(
                "Signature: 8a477f597d28d172789f06886806bc55\n# torchlint's result cache (see https://bford.info/cachedir/)\n",
                encoding="utf-8",
            )


def file_list_digest(files: list[str]) -> str:
    return hashlib.blake2b("\n".join(files).encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


# -- findings as JSON and back --------------------------------------------------------------


def _to_json(f: Finding) -> dict:
    d = asdict(f)
    d["severity"] = f.severity.value
    return d


def _pos(d: dict) -> Position:
    return Position(d["line"], d["column"])


def _span(d: dict) -> Span:
    return Span(_pos(d["start"]), _pos(d["end"]))


def _finding(d: dict) -> Finding:
    fix = d.get("fix")
    return Finding(
        code=d["code"],
        message=d["message"],
        path=d["path"],
        span=_span(d["span"]),
        severity=Severity(d["severity"]),
        fix=None
        if fix is None
        else Fix(
            fix["message"], tuple(Edit(_span(e["span"]), e["content"]) for e in fix["edits"]), fix["applicability"]
        ),
        related=tuple(Related(r["path"], _span(r["span"]), r["message"], r.get("cell")) for r in d.get("related", ())),
        data=d.get("data") or {},
        cell=d.get("cell"),
    )
