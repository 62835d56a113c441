"""`torchlint overfit SCRIPT [options] [-- ARGS...]`: the overfit check from a terminal or CI.

Exit codes: 0 PASS, 1 PARTIAL or FAIL, 2 ERROR (the script could not be probed) or bad usage.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from typing import TextIO

from .report import render_text
from .runner import Progress, run_overfit

EXIT = {"PASS": 0, "PARTIAL": 1, "FAIL": 1, "ERROR": 2}


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="torchlint overfit",
        description="Train SCRIPT on one repeated batch and check that the loss goes to ~0. "
        "Arguments after `--` are passed to the script.",
    )
    p.add_argument("script", help="the training script, run as __main__")
    p.add_argument("--steps", type=int, default=100, help="optimizer steps to run (default 100)")
    p.add_argument("--timeout", type=float, default=300.0, help="seconds before the run is killed (default 300)")
    p.add_argument("--python", default=None, help="interpreter to run the script with (default: this one)")
    p.add_argument("--cwd", default=None, help="working directory for the script (default: current)")
    p.add_argument("--json", action="store_true", help="print the report as JSON on stdout")
    p.add_argument("--report", metavar="PATH", help="also write the JSON report to PATH")
    p.add_argument("--plot", metavar="PATH", help="write the SVG loss plot to PATH (default: a temp file)")
    p.add_argument("--no-plot", action="store_true", help="do not write the SVG plot")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress on stderr")
    return p


class _Ticker:
    """Progress on stderr: one rewritten line on a terminal, a few plain lines otherwise."""

    def __init__(self, stream: TextIO, quiet: bool) -> None:
        self.stream = stream
        self.quiet = quiet
        self.tty = stream.isatty()
        self.last_decile = -1
        self.dirty = False

    def __call__(self, p: Progress) -> None:
        if self.quiet:
            return
        line = f"overfit: {p.message}"
        if self.tty:
            self.stream.write("\r\x1b[2K" + line)
            self.dirty = True
        else:
            decile = (10 * p.step) // max(p.total, 1)
            if p.step > 0 and decile == self.last_decile:
                return
            if p.step > 0:
                self.last_decile = decile
            self.stream.write(line + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.dirty:
            self.stream.write("\r\x1b[2K")
            self.stream.flush()


def main(argv: list[str]) -> int:
    if "--" in argv:
        cut = argv.index("--")
        own, script_args = argv[:cut], argv[cut + 1 :]
    else:
        own, script_args = argv, []
    parser = _parser()
    try:
        opts = parser.parse_args(own)
    except SystemExit as exc:  # argparse exits 2 on bad usage, 0 on --help
        return int(exc.code or 0)
    if opts.steps < 1 or opts.timeout <= 0:
        parser.print_usage(sys.stderr)
        print("torchlint overfit: --steps must be >= 1 and --timeout > 0", file=sys.stderr)
        return 2
    if not os.path.isfile(opts.script):
        print(f"torchlint overfit: no such file: {opts.script}", file=sys.stderr)
        return 2
    ticker = _Ticker(sys.stderr, opts.quiet)
    plot = "" if opts.no_plot else opts.plot
    try:
        report = asyncio.run(
            run_overfit(
                opts.script,
                script_args,
                python=opts.python,
                steps=opts.steps,
                timeout=opts.timeout,
                cwd=opts.cwd,
                on_progress=ticker,
                plot_path=plot,
            )
        )
    except KeyboardInterrupt:
        ticker.close()
        print("torchlint overfit: interrupted; the script's process group was killed", file=sys.stderr)
        return 2
    ticker.close()
    data = report.to_json()
    if opts.report:
        with open(opts.report, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=2)
            fh.write("\n")
    if opts.json:
        print(json.dumps(data, indent=2))
    else:
        print(render_text(report))
    if report.verdict == "PASS" and any(f.severity == "error" for f in report.findings):
        return 1  # memorised in spite of a bug a runtime check found
    return EXIT.get(report.verdict, 2)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
