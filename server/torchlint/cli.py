"""`torchlint check | rule | server | overfit`."""

from __future__ import annotations

import argparse
import os
import sys
from typing import NoReturn

from . import __version__

EXIT_CLEAN, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "overfit":
        from .probe.cli import main as overfit_main

        return overfit_main(argv[1:])
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on usage errors already; keep --help at 0
        return int(exc.code or 0)
    if args.command is None:
        parser.print_help()
        return EXIT_ERROR
    try:
        return args.func(args)
    except KeyboardInterrupt:
        return 130


def run() -> NoReturn:
    """The `torchlint` program: `main`, then leave without tearing the interpreter down. A
    check keeps every file's tree until the end, and freeing them one by one at exit took
    about a quarter of a cold run's time; nothing is left to do by then but flush the output
    (mypy leaves the same way). `main` returns normally for its other callers (tests)."""
    try:
        code = main()
    except BrokenPipeError:  # the reader left (`torchlint check | head`): the rest is unread
        code = EXIT_ERROR
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe (`torchlint check | head`): nothing to say it on
            pass
    os._exit(code)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="torchlint", description="Find silent PyTorch training bugs.")
    p.add_argument("--version", action="version", version=f"torchlint {__version__}")
    sub = p.add_subparsers(dest="command")

    check = sub.add_parser("check", help="lint files or directories")
    check.add_argument("paths", nargs="*", default=["."])
    check.add_argument("--format", "--output-format", dest="format", choices=["text", "json", "sarif"], default="text")
    check.add_argument("--select", help="comma-separated codes or prefixes to enable")
    check.add_argument("--ignore", help="comma-separated codes or prefixes to disable")
    check.add_argument("--extend-select", help="codes to add to the configured selection")
    check.add_argument("--fix", action="store_true", help="apply safe fixes in place")
    check.add_argument("--unsafe-fixes", action="store_true", help="with --fix, apply unsafe fixes too")
    check.add_argument("--diff", action="store_true", help="with --fix, print a diff instead of writing files")
    check.add_argument("--config", help="path to a pyproject.toml to read [tool.torchlint] from")
    check.add_argument(
        "--python",
        metavar="PATH",
        help="the Python whose packages Jedi reads (runs it once to learn its sys.path; default: $TORCHLINT_PYTHON, $VIRTUAL_ENV, else this one)",
    )
    check.add_argument("--no-jedi", action="store_true", help="resolve from the AST and workspace files only")
    check.add_argument("--exit-zero", action="store_true", help="exit 0 even when there are findings")
    check.add_argument("--statistics", action="store_true", help="print a count per rule")
    check.add_argument(
        "--no-cache", action="store_true", help="analyse every file again, ignoring and not writing the result cache"
    )
    check.add_argument(
        "--cache-dir",
        metavar="DIR",
        help="where results are cached (default: $TORCHLINT_CACHE_DIR, else .torchlint_cache/ at the project root)",
    )
    check.add_argument(
        "--jobs",
        "-j",
        type=int,
        default=None,
        help="at most this many worker processes (default: one per CPU); fewer when the CPUs are busy or there is little to check",
    )
    check.set_defaults(func=_run_check)

    rule = sub.add_parser("rule", help="explain a rule")
    rule.add_argument("code", nargs="?", help="e.g. TL101")
    rule.add_argument("--all", action="store_true", help="list every rule")
    rule.set_defaults(func=_run_rule)

    server = sub.add_parser("server", help="run the language server (stdio by default)")
    server.add_argument("--tcp", metavar="HOST:PORT", help="listen on TCP instead of stdio (debugging)")
    server.add_argument("--log-file", help="write the server log to this file")
    server.set_defaults(func=_run_server)

    sub.add_parser("overfit", help="run a script on one repeated batch (see `torchlint overfit --help`)")
    return p


def _run_check(args: argparse.Namespace) -> int:
    from .commands.check import run_check

    return run_check(args)


def _run_rule(args: argparse.Namespace) -> int:
    from .codes import all_rules, get_rule

    if args.all or not args.code:
        for r in all_rules():
            print(f"{r.code}  {r.name:<40} {r.severity.value}")
        return EXIT_CLEAN
    rule = get_rule(args.code)
    if rule is None:
        print(f"torchlint: unknown rule {args.code!r} (see `torchlint rule --all`)", file=sys.stderr)
        return EXIT_ERROR
    print(rule.markdown())
    return EXIT_CLEAN


def _run_server(args: argparse.Namespace) -> int:
    from .lsp.server import serve

    return serve(tcp=args.tcp, log_file=args.log_file)
