"""`torchlint check`: lint paths, print text/JSON/SARIF, optionally fix."""

from __future__ import annotations

import argparse
import difflib
import multiprocessing
import os
import stat
import sys
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..analysis.findings import Finding, not_analysed
from ..analysis.source import UnreadableFile, decode
from ..checker import Checker
from ..config import Config, ConfigError, load_config, user_interpreter
from ..fixes import apply_edits, select_fixes
from .cache import Cache, config_fingerprint, engine_fingerprint, file_list_digest
from .discover import discover
from .notebooks import check_notebook
from .output import render

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
    jobs = _jobs(args.jobs, len(files))
    if jobs > 1:
        chunks = [files[i::jobs] for i in range(jobs)]
        with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("fork")) as pool:
            results = list(pool.map(_check_files, chunks, [(config, root, args)] * jobs))
    else:
        results = [_check_files(files, (config, root, args))]

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
class _ChunkResult:
    findings: list[Finding] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    fixed: int = 0
    diff: str = ""


def _jobs(requested: int | None, n_files: int) -> int:
    """Worker processes: as asked, else one per core for enough files (each worker keeps its
    own workspace cache, so small runs stay in one process)."""
    if requested is not None:
        return max(1, requested)
    return min(os.cpu_count() or 1, 8) if n_files >= 32 else 1


def _check_files(files: list[Path], setup: tuple) -> _ChunkResult:
    config, root, args = setup
    checker = Checker(config, root)
    if args.no_jedi:
        checker.workspace.use_jedi = False
    cache = (
        None
        if args.no_cache
        else Cache(
            Path(args.cache_dir) if args.cache_dir else Cache.location(config.root or Path.cwd()),
            engine_fingerprint() + config_fingerprint(config, not args.no_jedi),
        )
    )
    listing: list[str] = []

    def file_list() -> str:  # the workspace's Python files, listed once per run and only if asked
        if not listing:
            listing.append(file_list_digest(checker.workspace.python_files()))
        return listing[0]

    out = _ChunkResult()
    for path in files:
        text, problem = _read(path)
        if problem is not None:
            if config.is_enabled(problem.code, str(path)):
                out.findings.append(problem)
            continue
        cached = cache.get(path, text, file_list) if cache is not None else None
        if cached is not None and not (args.fix and select_fixes(cached, args.unsafe_fixes)):
            out.findings.extend(cached)
            continue
        errors_before = len(out.errors)
        if path.suffix == ".ipynb":
            _check_notebook(checker, path, text, args, out)
            if cache is not None and len(out.errors) == errors_before and not args.fix:
                _store(cache, checker, path, text, [f for f in out.findings if f.path == str(path)], file_list)
            continue
        report = checker.check_file(str(path), text)
        out.errors.extend(f"torchlint: {path}: {err}" for err in report.errors)
        file_findings = report.findings
        if cache is not None and not report.errors:
            _store(cache, checker, path, text, file_findings, file_list)
        if args.fix:
            new_text, file_findings, n = _fix(checker, path, text, file_findings, args.unsafe_fixes)
            if n:
                out.fixed += n
                if args.diff:
                    out.diff += "".join(
                        difflib.unified_diff(
                            text.splitlines(keepends=True), new_text.splitlines(keepends=True), f"a/{path}", f"b/{path}"
                        )
                    )
                elif not _write(path, new_text):  # its encoding cannot write the fixed text
                    out.fixed -= n
                    file_findings = report.findings
        out.findings.extend(file_findings)
    return out


def _store(cache: Cache, checker: Checker, path: Path, text: str, findings: list[Finding], file_list) -> None:
    """Keep the file's findings with what they rest on (see cache.py)."""
    scanned = checker.workspace.scanned_files() is not None
    cache.put(path, text, findings, checker.workspace.reads(str(path)), file_list() if scanned else None)


def _check_notebook(checker: Checker, path: Path, text: str, args: argparse.Namespace, out: _ChunkResult) -> None:
    result = check_notebook(checker, path, text, args.fix, args.unsafe_fixes, args.diff)
    out.errors.extend(result.errors)
    out.findings.extend(f for f in result.findings if checker.config.is_enabled(f.code, str(path)))
    if result.new_raw is not None:
        out.fixed += result.fixed
        if args.diff:
            out.diff += result.diff
        else:
            path.write_bytes(result.new_raw.encode("utf-8"))


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
        text = apply_edits(text, [e for f in chosen for e in f.fix.edits])
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
