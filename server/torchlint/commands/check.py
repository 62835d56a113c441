"""`torchlint check`: lint paths, print text/JSON/SARIF, optionally fix."""

from __future__ import annotations

import argparse
import difflib
import multiprocessing.util
import stat
import sys
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from ..analysis.findings import Finding, not_analysed
from ..analysis.source import UnreadableFile, decode
from ..config import Config, ConfigError, load_config, user_interpreter
from ..fixes import apply_edits, edits_of, select_fixes
from .cache import Cache, config_fingerprint, engine_fingerprint, file_list_digest
from .collector import PerFileCollection
from .discover import discover
from .jobs import choose_jobs, file_sizes, plan_units, run_units
from .output import render

if TYPE_CHECKING:
    from ..checker import Checker

# The checker (the analysis and every rule) is imported only when a file misses the cache: an
# unchanged re-run reads the cache and prints, and importing the analysis was most of its time.

EXIT_CLEAN, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2
_MAX_FIX_PASSES = 5
_MAX_FILE_BYTES = 10_000_000  # not even read; above MAX_ANALYSED_CHARS the checker says the same


def run_check(args: argparse.Namespace) -> int:
    try:
        first = Path(args.paths[0]) if args.paths else Path(".")
        config = load_config(first if first.exists() else Path("."), args.config)
        config = _apply_cli(config, args)
    except ConfigError as exc:
        print(f"torchlint: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    for warning in config.warnings:
        print(f"torchlint: warning: {warning}", file=sys.stderr)
    missing = [p for p in args.paths if not Path(p).exists()]
    if missing:
        print(f"torchlint: no such file or directory: {', '.join(missing)}", file=sys.stderr)
        return EXIT_ERROR
    files = discover([Path(p) for p in args.paths], config)
    root = config.root or (Path(args.paths[0]).resolve() if Path(args.paths[0]).is_dir() else Path.cwd())
    results = _check_all(files, config, root, args)

    findings: list[Finding] = []
    internal_errors = 0
    fixed_count = 0
    for result in results:
        findings.extend(result.findings)
        internal_errors += len(result.errors)
        fixed_count += result.fixed
        for line in result.errors:
            print(line, file=sys.stderr)
        if result.diff:
            sys.stdout.write(result.diff)

    findings.sort(key=Finding.sort_key)
    if not (args.fix and args.diff):
        out = render(findings, args.format, files_checked=len(files), fixed=fixed_count)
        if out:
            sys.stdout.write(out)
    if args.statistics:
        for code, n in Counter(f.code for f in findings).most_common():
            print(f"{n:5d}  {code}", file=sys.stderr)
    if internal_errors:
        return EXIT_ERROR
    if any(not f.is_note for f in findings) and not args.exit_zero:
        return EXIT_FINDINGS
    return EXIT_CLEAN


@dataclass
class _FileResult:
    findings: list[Finding] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    fixed: int = 0
    diff: str = ""


class _Run:
    """One process's share of the run: one checker (whose workspace the files share), one cache."""

    def __init__(self, config: Config, root: Path, args: argparse.Namespace):
        self.args = args
        self.config, self.root = config, root
        self._checker: Checker | None = None
        self.cache = (
            None
            if args.no_cache
            else Cache(
                Path(args.cache_dir) if args.cache_dir else Cache.location(config.root or Path.cwd()),
                engine_fingerprint() + config_fingerprint(config, not args.no_jedi),
            )
        )
        self._listing: str | None = None

    @property
    def checker(self) -> Checker:
        if self._checker is None:
            from ..checker import Checker

            self._checker = Checker(self.config, self.root)
            if self.args.no_jedi:
                self._checker.workspace.use_jedi = False
        return self._checker

    def file_list(self) -> str:
        """The workspace's Python files, listed once per run and only if asked (by the
        checker's workspace once there is one, else as that workspace would list them)."""
        if self._listing is None:
            if self._checker is not None:
                files = self._checker.workspace.python_files()
            else:
                from ..analysis.documents import DocumentStore
                from ..analysis.modules import ModuleResolver

                root = self.root or self.config.root
                files = ModuleResolver(Path(root).resolve() if root else None, [], DocumentStore()).python_files()
            self._listing = file_list_digest(files)
        return self._listing

    def close(self) -> None:
        """Write what this process added to the cache."""
        if self.cache is not None:
            self.cache.save()

    def cached(self, path: Path, text: str | None = None) -> _FileResult | None:
        """The result the cache keeps for `path` (without reading it when `text` is None),
        unless --fix has something to change."""
        if self.cache is None:
            return None
        if text is None:
            found = self.cache.lookup(path, self.file_list)
        else:
            found = self.cache.get(path, text, self.file_list)
        if found is None or (self.args.fix and select_fixes(found, self.args.unsafe_fixes)):
            return None
        return _FileResult(found)

    def check_each(self, paths: list[Path], collector: PerFileCollection) -> list[_FileResult]:
        """`check` each file, the collector run after each (see collector.py)."""
        out = []
        for path in paths:
            out.append(self.check(path))
            collector.after_file()
        return out

    def check(self, path: Path) -> _FileResult:
        args, checker, cache = self.args, self.checker, self.cache
        out = _FileResult()
        text, problem = _read(path)
        if problem is not None:
            out.findings = checker.unread(str(path), [problem])
            return out
        cached = self.cached(path, text)  # moved or touched, but the same text
        if cached is not None:
            return cached
        if path.suffix == ".ipynb":
            self._check_notebook(path, text, out)
            if cache is not None and not out.errors and not args.fix:
                self._store(path, text, out.findings)
            return out
        report = checker.check_file(str(path), text)
        out.errors = [f"torchlint: {path}: {err}" for err in report.errors]
        out.findings = report.findings
        if cache is not None and not report.errors:
            self._store(path, text, report.findings)
        if args.fix:
            new_text, fixed_findings, n = _fix(checker, path, text, report.findings, args.unsafe_fixes)
            if n:
                if args.diff:
                    out.diff = "".join(
                        difflib.unified_diff(
                            text.splitlines(keepends=True), new_text.splitlines(keepends=True), f"a/{path}", f"b/{path}"
                        )
                    )
                elif not _write(path, new_text):  # its encoding cannot write the fixed text
                    return out
                out.fixed, out.findings = n, fixed_findings
        return out

    def _store(self, path: Path, text: str, findings: list[Finding]) -> None:
        """Keep the file's findings with what they rest on (see cache.py)."""
        assert self.cache is not None
        workspace = self.checker.workspace
        scanned = workspace.scanned_files() is not None
        self.cache.put(path, text, findings, workspace.reads(str(path)), self.file_list() if scanned else None)

    def _check_notebook(self, path: Path, text: str, out: _FileResult) -> None:
        from .notebooks import check_notebook

        args = self.args
        result = check_notebook(self.checker, path, text, args.fix, args.unsafe_fixes, args.diff)
        out.errors, out.findings = result.errors, result.findings
        if result.new_raw is not None:
            out.fixed = result.fixed
            if args.diff:
                out.diff = result.diff
            else:
                path.write_bytes(result.new_raw.encode("utf-8"))


def _check_all(files: list[Path], config: Config, root: Path, args: argparse.Namespace) -> list[_FileResult]:
    """Each file's result, in the order of `files`: from the cache when the file is unchanged
    (without reading it), else analysed in this process or in workers (see jobs.py)."""
    run = _Run(config, root, args)
    results: dict[int, _FileResult] = {}
    for i, path in enumerate(files):
        hit = run.cached(path)
        if hit is not None:
            results[i] = hit
    todo = [i for i in range(len(files)) if i not in results]
    sizes = file_sizes(files[i] for i in todo)
    jobs = 1 if args.jobs == 1 else choose_jobs(args.jobs, sum(sizes), len(todo))
    units = plan_units([files[i] for i in todo], sizes, jobs) if jobs > 1 else []
    if len(units) < 2:
        try:
            with PerFileCollection() as collector:
                results.update(zip(todo, run.check_each([files[i] for i in todo], collector)))
        finally:
            run.close()
    else:
        from ..codes import all_rules

        all_rules()  # imported once here, not once per worker
        units = [[todo[k] for k in unit] for unit in units]
        done = run_units(units, min(jobs, len(units)), _start_worker, (config, root, args, files), _check_unit)
        results.update((i, result) for unit, found in zip(units, done) for i, result in zip(unit, found))
    return [results[i] for i in range(len(files))]


_worker: tuple[_Run, list[Path], PerFileCollection] | None = None  # in a worker: its run, the files, gc


def _start_worker(config: Config, root: Path, args: argparse.Namespace, files: list[Path]) -> None:
    global _worker
    run = _Run(config, root, args)
    _worker = (run, files, PerFileCollection().__enter__())  # for the worker's life
    # a worker lives until the pool shuts down and then leaves with os._exit: write its cache
    # entries on multiprocessing's own way out
    multiprocessing.util.Finalize(run, run.close, exitpriority=10)


def _check_unit(unit: list[int]) -> list[_FileResult]:
    assert _worker is not None, "called outside a worker"
    run, files, collector = _worker
    return run.check_each([files[i] for i in unit], collector)


def _apply_cli(config: Config, args: argparse.Namespace) -> Config:
    overrides = {}
    if args.select:
        overrides["select"] = args.select
    if args.ignore:
        overrides["ignore"] = list(config.ignore) + [c for c in args.ignore.split(",") if c]
    config = config.merged(overrides, origin="command line")
    config = replace(config, interpreter=user_interpreter(getattr(args, "python", None)))
    if args.extend_select:
        extra = tuple(c.strip().upper() for c in args.extend_select.split(",") if c.strip())
        if config.select is not None:
            config = replace(config, select=config.select + extra)
    return config


def _read(path: Path) -> tuple[str, Finding | None]:
    """The text of `path`, or the TL001 note saying why it is not analysed. Only regular files
    are opened: reading a FIFO named `x.py` would block forever, a device would never end."""
    try:
        st = path.stat()
        if not stat.S_ISREG(st.st_mode):
            return "", not_analysed(str(path), f"not a regular file (a {_file_kind(st.st_mode)})")
        if st.st_size > _MAX_FILE_BYTES:
            return "", not_analysed(str(path), f"the file is larger than {_MAX_FILE_BYTES // 1_000_000} MB")
        return decode(path.read_bytes()), None
    except UnreadableFile as exc:
        return "", not_analysed(str(path), f"the file is not text: {exc}")
    except OSError as exc:
        return "", not_analysed(str(path), f"cannot read the file: {exc.strerror or exc}")


def _file_kind(mode: int) -> str:
    for test, kind in (
        (stat.S_ISFIFO, "FIFO"),
        (stat.S_ISSOCK, "socket"),
        (stat.S_ISCHR, "character device"),
        (stat.S_ISBLK, "block device"),
        (stat.S_ISDIR, "directory"),
    ):
        if test(mode):
            return kind
    return "special file"


def _fix(checker: Checker, path: Path, text: str, findings: list[Finding], unsafe: bool):
    """Apply fixes until none apply (a fix can reveal or shift another)."""
    applied = 0
    for _ in range(_MAX_FIX_PASSES):
        chosen = select_fixes(findings, unsafe)
        if not chosen:
            break
        text = apply_edits(text, edits_of(chosen))
        applied += len(chosen)
        findings = checker.check(str(path), text)
    return text, findings, applied


def _write(path: Path, text: str) -> bool:
    """False (the file left alone) when the file's encoding cannot write `text`: a codec that
    reads anything but writes little (`# coding: idna`)."""
    raw = path.read_bytes()
    # keep the file's encoding declaration (decode() honoured it)
    import io
    import tokenize

    encoding, _ = tokenize.detect_encoding(io.BytesIO(raw).readline)
    bom = raw.startswith(b"\xef\xbb\xbf")
    try:
        data = text.encode("utf-8" if encoding == "utf-8-sig" else encoding)
    except (UnicodeError, LookupError):
        return False
    path.write_bytes((b"\xef\xbb\xbf" if bom and not data.startswith(b"\xef\xbb\xbf") else b"") + data)
    return True
