"""Latency of the language server: `didChange` -> `publishDiagnostics`, debounce excluded.

Runs the real server (`python -m torchlint server`) over stdio on generated training
scripts of about 100, 1,000 and 5,000 lines and prints, per size:

- cold: first `didOpen` -> first diagnostics in a fresh server (Jedi and imports included),
- warm: p50/p95 of `didChange` -> `publishDiagnostics` for that version (debounce 0), over a
  cycle of the edits typing makes (see EDITS): a comment at the top, a literal in a function in
  the middle, a new line there and its removal, a half-typed line that breaks the file and the
  keystroke that mends it; and the slowest of each kind,
- the engine alone (an editor-mode `Checker` in-process on the same edits): the rest is the LSP layer,
- the cost of `ast.parse` on the same text (p50, measured in this run) and warm/ast ratios.

Targets: warm p95 < 50 ms at 1,000 lines; cold first diagnostics < 1.5 s.
Not a timed test: `python bench/lsp_latency.py [--edits N] [--sizes 100,1000,5000] [--file your_train.py]`
(`--file` runs the same cycle on a script of yours, read only; `--sizes ""` skips the generated ones).
"""

from __future__ import annotations

import argparse
import ast
import asyncio
import gc
import statistics
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from lsprotocol import types
from pygls.lsp.client import LanguageClient
from pygls.uris import from_fs_path

HEADER = textwrap.dedent(
    """\
    import argparse
    import math

    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    from torch.utils.data import DataLoader, Dataset

    # rev 0
    """
)

BLOCK = textwrap.dedent(
    """\

    class Block{i}(nn.Module):
        def __init__(self, dim: int = 64, hidden: int = 128, p: float = 0.1):
            super().__init__()
            self.norm = nn.LayerNorm(dim)
            self.fc1 = nn.Linear(dim, hidden)
            self.fc2 = nn.Linear(hidden, dim)
            self.drop = nn.Dropout(p)

        def forward(self, x):
            h = self.norm(x)
            h = F.gelu(self.fc1(h))
            h = self.drop(self.fc2(h))
            return x + h


    class Data{i}(Dataset):
        def __init__(self, n: int = 256, dim: int = 64):
            self.x = torch.randn(n, dim)
            self.y = torch.randint(0, 10, (n,))

        def __len__(self):
            return len(self.x)

        def __getitem__(self, idx):
            return self.x[idx], self.y[idx]


    def evaluate{i}(model, loader, device="cpu"):
        model.eval()
        correct, total = 0, 0
        with torch.no_grad():
            for x, y in loader:
                x, y = x.to(device), y.to(device)
                logits = model(x)
                correct += (logits.argmax(dim=1) == y).sum().item()
                total += y.numel()
        model.train()
        return correct / max(total, 1)


    def train{i}(epochs: int = 2, lr: float = 1e-3, device: str = "cpu"):
        model = nn.Sequential(Block{i}(), nn.Linear(64, 10)).to(device)
        optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
        loader = DataLoader(Data{i}(), batch_size=32, shuffle=True)
        for epoch in range(epochs):
            model.train()
            running = 0.0
            for step, (x, y) in enumerate(loader):
                x, y = x.to(device), y.to(device)
                optimizer.zero_grad()
                loss = F.cross_entropy(model(x), y)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
                optimizer.step()
                running += loss.item()
            scheduler.step()
            acc = evaluate{i}(model, loader, device)
            print(f"epoch {{epoch}} loss {{running / len(loader):.4f}} acc {{acc:.3f}}")
        return model
    """
)

FOOTER = textwrap.dedent(
    """\


    def main():
        parser = argparse.ArgumentParser()
        parser.add_argument("--epochs", type=int, default=2)
        args = parser.parse_args()
        model = nn.Linear(64, 10)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        loader = DataLoader(Data0(), batch_size=32, shuffle=True)
        for epoch in range(args.epochs):
            for x, y in loader:
                loss = F.cross_entropy(model(x), y)
                loss.backward()  # no zero_grad: one finding, so there is something to publish
                optimizer.step()


    if __name__ == "__main__":
        main()
    """
)


def generate(lines: int) -> str:
    parts, count, i = [HEADER], HEADER.count("\n") + FOOTER.count("\n"), 0
    while True:
        block = BLOCK.format(i=i)
        if i > 0 and count + block.count("\n") > lines:
            break
        parts.append(block)
        count += block.count("\n")
        i += 1
    parts.append(FOOTER)
    return "".join(parts)


EDITS = ("comment", "literal", "new line", "line removed", "half-typed line", "mended")


def edit(text: str, n: int) -> tuple[str, str]:
    """The n-th edit (1-based) of the cycle, applied to `text`: (kind, new text). The edits in
    code land in the function in the middle of the file, so every later line moves when one
    is added or removed."""
    kind = EDITS[(n - 1) % len(EDITS)]
    lines = text.split("\n")
    mid = len(lines) // 2
    step = next(i for i in range(mid, len(lines)) if lines[i].strip() == "running += loss.item()")
    if kind == "comment":
        i = next(i for i, l in enumerate(lines) if l.startswith("# rev "))
        lines[i] = f"# rev {n}"
    elif kind == "literal":
        i = next(i for i in range(step, 0, -1) if "max_norm=" in lines[i])
        lines[i] = (
            lines[i].replace("max_norm=1.0", "max_norm=2.0")
            if "max_norm=1.0" in lines[i]
            else lines[i].replace("max_norm=2.0", "max_norm=1.0")
        )
    elif kind == "new line":
        lines.insert(step + 1, lines[step].replace("loss.item()", "0.0"))
    elif kind == "line removed":
        assert lines[step + 1].strip() == "running += 0.0"
        del lines[step + 1]
    elif kind == "half-typed line":
        lines.insert(step + 1, lines[step][: len(lines[step]) - len(lines[step].lstrip())] + "acc = (logits.argmax(")
    else:  # mended
        assert lines[step + 1].strip() == "acc = (logits.argmax("
        del lines[step + 1]
    return kind, "\n".join(lines)


_MARK = "# torchlint-bench rev "


def edit_any(text: str, n: int) -> tuple[str, str]:
    """The same cycle for any file (`--file`): the comment is a first line of its own, the code
    edits land on a one-line statement holding a number in a function near the middle."""
    kind = EDITS[(n - 1) % len(EDITS)]
    lines = text.split("\n")
    if kind == "comment":
        if lines[0].startswith(_MARK):
            lines[0] = f"{_MARK}{n}"
        else:
            lines.insert(0, f"{_MARK}{n}")
        return kind, "\n".join(lines)
    if kind in ("line removed", "mended"):
        marker = "_bench_line = 0" if kind == "line removed" else "_bench = ("
        return kind, "\n".join(l for l in lines if l.strip() != marker)
    line0, number = _anchor(text)
    indent = lines[line0][: len(lines[line0]) - len(lines[line0].lstrip())]
    if kind == "literal":
        line = lines[line0]
        digit = str((int(line[number - 1]) + 1) % 10)
        lines[line0] = line[: number - 1] + digit + line[number:]
    else:
        lines.insert(line0 + 1, indent + ("_bench_line = 0" if kind == "new line" else "_bench = ("))
    return kind, "\n".join(lines)


def _anchor(text: str) -> tuple[int, int]:
    """(0-based line, end column of a number on it) of the one-line statement nearest the middle."""
    tree = ast.parse(text)
    lines = text.split("\n")
    best = None
    for fn in ast.walk(tree):
        if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for st in ast.walk(fn):
            if not isinstance(st, (ast.Assign, ast.AugAssign, ast.Expr)) or st.lineno != st.end_lineno:
                continue
            line = lines[st.lineno - 1]
            if not line.isascii() or line.rstrip().endswith("\\"):
                continue
            nums = [c for c in ast.walk(st) if isinstance(c, ast.Constant) and type(c.value) in (int, float)]
            if nums and line[nums[-1].end_col_offset - 1].isdigit():
                d = abs(st.lineno - len(lines) // 2)
                if best is None or d < best[0]:
                    best = (d, st.lineno - 1, nums[-1].end_col_offset)
    if best is None:
        raise SystemExit("no one-line statement with a number in a function to edit")
    return best[1], best[2]


def change(old: str, new: str) -> types.TextDocumentContentChangePartial:
    """The one-range change an editor sends for old -> new (ASCII text: columns are UTF-16)."""
    a_lines, b_lines = old.split("\n"), new.split("\n")
    top = 0  # whole lines the same at the top, then at the bottom
    while top < min(len(a_lines), len(b_lines)) and a_lines[top] == b_lines[top]:
        top += 1
    bottom = 0
    while bottom < min(len(a_lines), len(b_lines)) - top and a_lines[-1 - bottom] == b_lines[-1 - bottom]:
        bottom += 1
    # replace lines [top, len - bottom) of old, up to the start of the first line kept below
    end_line = len(a_lines) - bottom
    text = "".join(line + "\n" for line in b_lines[top : len(b_lines) - bottom])
    return types.TextDocumentContentChangePartial(
        range=types.Range(types.Position(top, 0), types.Position(end_line, 0)), text=text
    )


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    k = (len(values) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


class Bench:
    def __init__(self) -> None:
        self.client = LanguageClient("torchlint-bench", "1")
        self.published: dict[tuple[str, int | None], float] = {}
        self.event = asyncio.Event()

        @self.client.feature(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
        def on_publish(params: types.PublishDiagnosticsParams):
            self.published[(params.uri, params.version)] = time.perf_counter()
            self.event.set()

        @self.client.feature(types.WORKSPACE_CONFIGURATION)
        def on_configuration(params: types.ConfigurationParams):
            return [None for _ in params.items]

    async def start(self, root: Path) -> None:
        await self.client.start_io(sys.executable, "-m", "torchlint", "server")
        await self.client.initialize_async(
            types.InitializeParams(
                capabilities=types.ClientCapabilities(
                    general=types.GeneralClientCapabilities(position_encodings=[types.PositionEncodingKind.Utf16]),
                    workspace=types.WorkspaceClientCapabilities(configuration=False),
                ),
                root_uri=from_fs_path(str(root)),
                initialization_options={"debounce": 0},
            )
        )
        self.client.initialized(types.InitializedParams())

    async def wait(self, uri: str, version: int, timeout: float = 120.0) -> float:
        deadline = time.perf_counter() + timeout
        while (uri, version) not in self.published:
            self.event.clear()
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                raise TimeoutError(f"no diagnostics for version {version}")
            try:
                await asyncio.wait_for(self.event.wait(), remaining)
            except TimeoutError:
                pass
        return self.published[(uri, version)]

    async def stop(self) -> None:
        await self.client.shutdown_async(None)
        self.client.exit(None)
        await self.client.stop()


async def measure(text: str, path: Path, root: Path, edits: int, edit_fn=None) -> dict:
    """Latencies for `text` opened as `path` (in the workspace `root`); the file on disk is
    only read: edits go to the server as the editor's text."""
    edit_fn = edit_fn or edit
    uri = from_fs_path(str(path))

    # baseline: ast.parse of the same text, in this process, with the collector off as timeit
    # does (the heap this process has built by now would otherwise inflate the baseline)
    parse_times = []
    gc.collect()
    gc.disable()
    try:
        for _ in range(max(edits, 10)):
            t0 = time.perf_counter()
            ast.parse(text)
            parse_times.append(time.perf_counter() - t0)
    finally:
        gc.enable()

    # the engine alone, in this process, on the same sequence of texts: what the LSP layer adds is the difference
    from torchlint.checker import Checker
    from torchlint.config import load_config

    checker = Checker(load_config(root), root, incremental=True)
    checker.set_overlay(str(path), text)
    checker.check_file(str(path), text)
    engine_times = []
    current = text
    for n in range(1, edits + 1):
        _, current = edit_fn(current, n)
        t0 = time.perf_counter()
        checker.set_overlay(str(path), current)
        checker.check_file(str(path), current)
        engine_times.append(time.perf_counter() - t0)
    del checker

    bench = Bench()
    await bench.start(root)
    t0 = time.perf_counter()
    bench.client.text_document_did_open(
        types.DidOpenTextDocumentParams(types.TextDocumentItem(uri=uri, language_id="python", version=1, text=text))
    )
    cold = await bench.wait(uri, 1) - t0
    print(f"{text.count(chr(10))} lines: cold {cold * 1000:.0f} ms", file=sys.stderr, flush=True)

    warm: list[float] = []
    by_kind: dict[str, list[float]] = {}
    current = text
    for n in range(1, edits + 1):
        kind, new = edit_fn(current, n)
        params = types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=n + 1),
            content_changes=[change(current, new)],
        )
        t0 = time.perf_counter()
        bench.client.text_document_did_change(params)
        warm.append(await bench.wait(uri, n + 1) - t0)
        by_kind.setdefault(kind, []).append(warm[-1])
        current = new
        print(f"  edit {n} ({kind}): {warm[-1] * 1000:.0f} ms", file=sys.stderr, flush=True)
    await bench.stop()
    return {
        "name": path.name,
        "lines": text.count("\n"),
        "cold": cold,
        "warm_p50": pct(warm, 0.5),
        "warm_p95": pct(warm, 0.95),
        "ast_p50": statistics.median(parse_times),
        "engine_p50": statistics.median(engine_times),
        "engine_p95": pct(engine_times, 0.95),
        "slowest": {k: max(v) for k, v in by_kind.items()},
    }


async def main_async(sizes: list[int], edits: int, files: list[Path]) -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            root = Path(tmp) / f"ws{n}"
            root.mkdir()
            path = root / "train.py"
            text = generate(n)
            path.write_text(text)
            rows.append(await measure(text, path, root, edits))
    for f in files:
        f = f.resolve()
        rows.append(await measure(f.read_text(), f, f.parent, edits, edit_any))
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="100,1000,5000")
    ap.add_argument("--edits", type=int, default=24, help=f"edits per size (the cycle has {len(EDITS)} kinds)")
    ap.add_argument(
        "--file",
        type=Path,
        action="append",
        default=[],
        help="also measure this script of yours (read only; its folder is the workspace)",
    )
    args = ap.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    rows = asyncio.run(main_async(sizes, args.edits, args.file))
    ms = 1000.0
    print("times in ms; warm = didChange -> publishDiagnostics (debounce 0); engine = editor-mode Checker in-process")
    print(
        f"{'file':<14} {'lines':>6} {'cold':>7} {'warm p50':>9} {'warm p95':>9} {'engine p50':>11} {'engine p95':>11}"
        f" {'ast.parse p50':>14} {'p50/ast':>8} {'p95/ast':>8}"
    )
    for r in rows:
        print(
            f"{r['name'][:14]:<14} {r['lines']:>6} {r['cold'] * ms:>7.0f} {r['warm_p50'] * ms:>9.1f} {r['warm_p95'] * ms:>9.1f}"
            f" {r['engine_p50'] * ms:>11.1f} {r['engine_p95'] * ms:>11.1f} {r['ast_p50'] * ms:>14.2f}"
            f" {r['warm_p50'] / r['ast_p50']:>8.1f} {r['warm_p95'] / r['ast_p50']:>8.1f}"
        )
    print("slowest warm edit of each kind (ms):")
    for r in rows:
        print(
            f"{r['name'][:14]:<14} {r['lines']:>6} " + ", ".join(f"{k} {v * ms:.1f}" for k, v in r["slowest"].items())
        )
    generated = rows[: len(sizes)]
    at_1000 = [r for r in generated if 500 <= r["lines"] <= 2000]

    def verdict(ok: bool, measured: bool) -> str:
        return ("met" if ok else "MISSED") if measured else "not measured"

    print(
        f"targets (generated scripts): warm p95 < 50 ms at ~1,000 lines: "
        f"{verdict(all(r['warm_p95'] < 0.050 for r in at_1000), bool(at_1000))}; "
        f"cold first diagnostics < 1.5 s: {verdict(all(r['cold'] < 1.5 for r in generated), bool(generated))}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
