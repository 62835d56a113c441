"""`torchlint check`'s per-file result cache (ruff's `.ruff_cache` is the model).

A file's findings are kept with what they rest on: the engine (torchlint's version and the
stamps of its own source files) and the configuration (together the cache's `key`), the file's
content hash, the content hashes of the workspace files its analysis read (cross-file facts: an
imported helper, callers in importers), and, when the analysis looked for importers, the list of
the workspace's Python files. A result is reused only when all of them are unchanged; anything
else analyses again.

Reading it must cost next to nothing, as an unchanged re-run is mostly this:
- one file per key (engine + configuration) holding every entry, written with `marshal` (about
  8x faster to load than one JSON file per entry); workers of a parallel run merge their
  entries into it under a lock when they are done;
- files are recognised by their stat stamp (mtime, size) first and by content hash when the
  stamp moved (a `touch`, a checkout): `lookup` can answer without reading the file at all;
- this module imports nothing of the analysis: a run whose results are all cached never loads
  the rules.

The cache lives in `$TORCHLINT_CACHE_DIR`, else `.torchlint_cache/` at the project root (with a
`.gitignore` so it is never committed). A cache that cannot be read or written is ignored.
"""

from __future__ import annotations

import hashlib
import marshal
import os
import sys
import tempfile
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import __version__

if TYPE_CHECKING:
    from ..analysis.findings import Finding, Span

CACHE_ENV = "TORCHLINT_CACHE_DIR"
DIR_NAME = ".torchlint_cache"
_FORMAT = 3

# (st_mtime_ns, st_size, st_mode): the mode as ruff's cache keeps it: a file made unreadable
# (chmod keeps its mtime) is read again, and gets its TL001 note instead of its old findings
Stamp = tuple[int, int, int]
_MISSING: Stamp = (0, -1, 0)
_UNKNOWN: Stamp = (-1, -1, -1)  # never equal to a file's stamp
# path -> (stamp, content hash, ((dep, stamp, hash), ...), file-list digest | None, findings)
Entry = tuple[Stamp, str, tuple[tuple[str, Stamp, str | None], ...], str | None, tuple[Any, ...]]


def content_hash(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


def engine_fingerprint() -> str:
    """torchlint's version and the stamps of its own modules: a development checkout that
    changes a rule invalidates what the old rule found."""
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    h = hashlib.blake2b(digest_size=16)
    h.update(f"{_FORMAT}:{__version__}:{sys.version_info[:2]}".encode())
    stack = [package]
    stamps = []
    while stack:
        with os.scandir(stack.pop()) as it:
            for e in it:
                if e.is_dir(follow_symlinks=False) and e.name != "__pycache__":
                    stack.append(e.path)
                elif e.name.endswith(".py"):
                    st = e.stat()
                    stamps.append(f"{os.path.relpath(e.path, package)}:{st.st_mtime_ns}:{st.st_size}")
    h.update("\n".join(sorted(stamps)).encode())
    return h.hexdigest()


def config_fingerprint(config: Any, use_jedi: bool) -> str:
    """Everything in the configuration that can change a finding (not the warnings about it)."""
    from dataclasses import fields

    data = {f.name: getattr(config, f.name) for f in fields(config) if f.name != "warnings"}
    return hashlib.blake2b(f"{sorted(data.items(), key=str)!r}:{use_jedi}".encode(), digest_size=16).hexdigest()


def file_list_digest(files: list[str]) -> str:
    return hashlib.blake2b("\n".join(files).encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


class Cache:
    def __init__(self, directory: Path, key: str):
        self.directory = directory
        self.key = key  # engine + configuration
        self.hits = 0
        self.stores = 0
        self._entries: dict[str, Entry] | None = None  # loaded on first use
        self._pending: dict[str, Entry] = {}  # written by `save`
        self._deps: dict[str, tuple[Stamp, str | None]] = {}  # dependency -> (stamp, hash), once per run
        self._usable = True
        self._file = directory / f"results-{hashlib.blake2b(key.encode(), digest_size=8).hexdigest()}.marshal"
        # a worker that never calls `save` still leaves its results (when it is collected)
        self._finalizer = weakref.finalize(self, _save, self._file, self._pending)

    @staticmethod
    def location(root: Path) -> Path:
        return Path(os.environ.get(CACHE_ENV) or root / DIR_NAME)

    # -- reading -----------------------------------------------------------------------
    def lookup(self, path: Path, file_list: Callable[[], str]) -> list[Finding] | None:
        """The findings of `path` if its stamp and everything they rest on are unchanged,
        without reading the file."""
        entry = self._entry(path)
        if entry is None or _stamp(str(path)) != entry[0]:
            return None
        return self._valid(entry, file_list)

    def get(self, path: Path, text: str, file_list: Callable[[], str]) -> list[Finding] | None:
        """The findings of `path`, read as `text`, if it and everything they rest on are unchanged."""
        entry = self._entry(path)
        if entry is None or entry[1] != content_hash(text):
            return None
        return self._valid(entry, file_list)

    def _valid(self, entry: Entry, file_list: Callable[[], str]) -> list[Finding] | None:
        for dep, stamp, digest in entry[2]:
            if self._dependency(dep, (stamp, digest))[1] != digest:
                return None
        if entry[3] is not None and entry[3] != file_list():
            return None  # a Python file appeared or went away: importers may have changed
        try:
            findings = [_finding(f) for f in entry[4]]
        except (TypeError, ValueError, IndexError):
            return None
        self.hits += 1
        return findings

    def _entry(self, path: Path) -> Entry | None:
        if self._entries is None:
            self._entries = _load(self._file) if self._usable else {}
        return self._entries.get(_key(path))

    def _dependency(self, path: str, recorded: tuple[Stamp, str | None] | None = None) -> tuple[Stamp, str | None]:
        """(stamp, content hash) of a file a result read, once per run. The file is read only
        when its stamp is not the `recorded` one (the stamp it had when it was hashed)."""
        hit = self._deps.get(path)
        if hit is None:
            stamp = _stamp(path)
            hit = (stamp, recorded[1]) if recorded is not None and recorded[0] == stamp else (stamp, _hash_file(path))
            self._deps[path] = hit
        return hit

    # -- writing -----------------------------------------------------------------------
    def put(self, path: Path, text: str, findings: list[Finding], deps: set[str], files: str | None) -> None:
        if not self._usable:
            return
        me = _key(path)
        digest = content_hash(text)
        stamp = _stamp(str(path))
        if _hash_file(str(path)) != digest:
            stamp = _UNKNOWN  # the file changed since it was read: recognise it by content only
        dep_list = []
        for d in sorted(deps):
            if _key(Path(d)) != me:
                dep_stamp, dep_hash = self._dependency(d)
                dep_list.append((d, dep_stamp, dep_hash))
        entry: Entry = (stamp, digest, tuple(dep_list), files, tuple(_to_tuple(f) for f in findings))
        try:
            marshal.dumps(entry)
        except ValueError:
            return  # `data` a rule left that marshal cannot keep: analysed again next time
        self._pending[me] = entry
        if self._entries is not None:
            self._entries[me] = entry
        self.stores += 1

    def save(self) -> None:
        """Merge this run's entries into the cache file (under a lock: parallel workers)."""
        if self._usable and self._pending:
            self._usable = _save(self._file, self._pending)
        self._pending.clear()


def _key(path: Path) -> str:
    return os.path.realpath(path)


def _stamp(path: str) -> Stamp:
    try:
        st = os.stat(path)
    except OSError:
        return _MISSING
    return (st.st_mtime_ns, st.st_size, st.st_mode)


def _hash_file(path: str) -> str | None:
    try:
        from ..analysis.source import decode

        with open(path, "rb") as fh:
            return content_hash(decode(fh.read()))
    except Exception:
        return None


def _load(file: Path) -> dict[str, Entry]:
    try:
        with open(file, "rb") as fh:
            data = marshal.load(fh)
    except (OSError, EOFError, ValueError, TypeError):
        return {}
    return data if isinstance(data, dict) else {}


def _save(file: Path, pending: dict[str, Entry]) -> bool:
    """Write `pending` over the entries already in `file`; False when the cache is unusable."""
    if not pending:
        return True
    directory = file.parent
    try:
        _ensure_dir(directory)
        with open(directory / ".lock", "a") as lock:
            _lock(lock)
            entries = _load(file)
            entries.update(pending)
            fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-")
            with os.fdopen(fd, "wb") as fh:
                marshal.dump(entries, fh)
            os.replace(tmp, file)  # atomic: a reader never sees half a file
    except OSError:
        return False  # read-only checkout, full disk: run without a cache
    pending.clear()
    return True


def _lock(fh: Any) -> None:
    try:
        import fcntl
    except ImportError:  # Windows: the last writer wins, the others' entries are analysed again
        return
    fcntl.flock(fh.fileno(), fcntl.LOCK_EX)


def _ensure_dir(directory: Path) -> None:
    if not directory.is_dir():
        directory.mkdir(parents=True, exist_ok=True)
        (directory / ".gitignore").write_text("# Automatically created by torchlint.\n*\n", encoding="utf-8")
        (directory / "CACHEDIR.TAG").write_text(
            "Signature: 8a477f597d28d172789f06886806bc55\n# torchlint's result cache (see https://bford.info/cachedir/)\n",
            encoding="utf-8",
        )


# -- findings as plain tuples and back (what marshal keeps) ------------------------------------


def _span_tuple(s: Span) -> tuple[int, int, int, int]:
    return (s.start.line, s.start.column, s.end.line, s.end.column)


def _to_tuple(f: Finding) -> tuple[Any, ...]:
    fix = (
        None
        if f.fix is None
        else (f.fix.message, tuple((_span_tuple(e.span), e.content) for e in f.fix.edits), f.fix.applicability)
    )
    related = tuple((r.path, _span_tuple(r.span), r.message, r.cell) for r in f.related)
    return (f.code, f.message, f.path, _span_tuple(f.span), f.severity.value, fix, related, f.data, f.cell)


def _finding(t: tuple[Any, ...]) -> Finding:
    from ..analysis.findings import Edit, Finding, Fix, Related, Severity, Span

    code, message, path, span, severity, fix, related, data, cell = t
    return Finding(
        code=code,
        message=message,
        path=path,
        span=Span.of(*span),
        severity=Severity(severity),
        fix=None if fix is None else Fix(fix[0], tuple(Edit(Span.of(*s), c) for s, c in fix[1]), fix[2]),
        related=tuple(Related(p, Span.of(*s), m, c) for p, s, m, c in related),
        data=data,
        cell=cell,
    )
