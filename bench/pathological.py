"""Analysis time of pathological functions: a training loop holding N generated branches.

    python bench/pathological.py [--sizes 500,1000,3000,10000] [--kinds if_else,elif,try_finally,try_except]

For each kind and N, one file: `train(...)` whose `for x, y in loader:` loop holds N blocks
(`if i == k: ... else: ...`, an `elif` chain, `try: ... finally:`, `try: ... except:`), each
running a forward, a mode switch or a zero_grad, then backward and step. Printed per file:

- ast.parse: the best of 5 parses of the same text in this run (collector off, as timeit),
- cli: `Checker().check_file` (what `torchlint check` runs), a fresh checker,
- editor: the first analysis of an editor-mode `Checker(incremental=True)`, then the
  re-analysis after a comment is typed above the function,
- whether the function was analysed or left out with a TL001 note (its budget ran out).

The analysis should grow linearly with N (a constant multiple of ast.parse), and a function
over the budget should cost little more than the rest of the file. CPython's parser itself
gives up on an elif chain near 3,000 branches (the file gets a syntax-error finding).
Not a timed test: the tests assert on counts (tests/analysis/test_pathological.py).
"""

from __future__ import annotations

import argparse
import ast
import gc
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "server"))

from torchlint.checker import Checker
from torchlint.config import Config

BRANCHES = [
    ["out = model(x)"],
    ["model.eval()", "model.train()"],
    ["opt.zero_grad()", "out = model(x)"],
    ["out = out * 2"],
]


def generate(kind: str, n: int) -> str:
    ind, inner = " " * 8, " " * 12
    lines = [
        "import torch",
        "",
        "",
        "def train(model, loader, opt, criterion):",
        "    model.train()",
        "    for i, (x, y) in enumerate(loader):",
        "        opt.zero_grad()",
        "        out = model(x)",
    ]
    for k in range(n):
        branch = [inner + s for s in BRANCHES[k % len(BRANCHES)]]
        if kind == "if_else":
            lines += [f"{ind}if i == {k}:", *branch, f"{ind}else:", f"{inner}out = out + {k}"]
        elif kind == "elif":
            lines += [f"{ind}{'if' if k == 0 else 'elif'} i == {k}:", *branch]
        elif kind == "try_finally":
            lines += [f"{ind}try:", *branch, f"{ind}finally:", f"{inner}out = out + {k}"]
        elif kind == "try_except":
            lines += [f"{ind}try:", *branch, f"{ind}except ValueError:", f"{inner}out = out + {k}"]
        else:
            raise SystemExit(f"unknown kind {kind}")
    lines += [f"{ind}loss = criterion(out, y)", f"{ind}loss.backward()", f"{ind}opt.step()"]
    return "\n".join(lines) + "\n"


def parse_time(text: str) -> float | None:
    best = None
    gc.collect()
    gc.disable()
    try:
        for _ in range(5):
            t0 = time.perf_counter()
            try:
                ast.parse(text)
            except (RecursionError, MemoryError, SyntaxError):
                return None
            dt = time.perf_counter() - t0
            best = dt if best is None else min(best, dt)
    finally:
        gc.enable()
    return best


def measure(kind: str, n: int, root: Path) -> dict:
    text = generate(kind, n)
    path = root / f"{kind}_{n}.py"
    path.write_text(text)
    row = {"kind": kind, "n": n, "lines": text.count("\n"), "ast": parse_time(text)}
    t0 = time.perf_counter()
    report = Checker(Config(), root).check_file(str(path), text)
    row["cli"] = time.perf_counter() - t0
    codes = [f.code for f in report.findings]
    notes = [f.message for f in report.findings if f.code == "TL001"]
    if "syntax-error" in codes:
        row["result"] = "syntax error"
    elif notes:
        row["result"] = "left out (TL001: budget)" if "budget" in notes[0] else f"TL001: {notes[0][:60]}"
    else:
        row["result"] = "analysed"
    editor = Checker(Config(), root, incremental=True)
    editor.set_overlay(str(path), text)
    t0 = time.perf_counter()
    editor.check_file(str(path), text)
    row["editor"] = time.perf_counter() - t0
    edited = text.replace("\ndef train(", "\n# a comment\ndef train(", 1)
    editor.set_overlay(str(path), edited)
    t0 = time.perf_counter()
    editor.check_file(str(path), edited)
    row["edit"] = time.perf_counter() - t0
    return row


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="500,1000,3000,10000")
    ap.add_argument("--kinds", default="if_else,elif,try_finally,try_except")
    args = ap.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    print(
        f"{'kind':<12} {'N':>6} {'lines':>6} {'ast.parse':>10} {'cli':>8} {'cli/ast':>8} {'editor':>8} {'edit':>8}  result"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for kind in args.kinds.split(","):
            for n in sizes:
                r = measure(kind, n, Path(tmp))
                ast_ms = f"{r['ast'] * 1000:>8.1f}ms" if r["ast"] else f"{'n/a':>10}"
                ratio = f"{r['cli'] / r['ast']:>8.0f}" if r["ast"] else f"{'':>8}"
                print(
                    f"{kind:<12} {n:>6} {r['lines']:>6} {ast_ms} {r['cli']:>7.2f}s {ratio}"
                    f" {r['editor']:>7.2f}s {r['edit']:>7.2f}s  {r['result']}",
                    flush=True,
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
