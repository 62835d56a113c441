"""Latency of the language server: `didChange` -> `publishDiagnostics`, debounce excluded.

Runs the real server (`python -m torchlint server`) over stdio on generated training
scripts of about 100, 1,000 and 5,000 lines and prints, per size:

- cold: first `didOpen` -> first diagnostics in a fresh server (Jedi and imports included),
- warm: p50/p95 of `didChange` -> `publishDiagnostics` for that version (debounce 0),
- the engine alone (`Checker.check_file` in-process on the same edits): the rest is the LSP layer,
- the cost of `ast.parse` on the same text (p50, measured in this run) and warm/ast ratios.

Targets: warm p95 < 50 ms at 1,000 lines; cold first diagnostics < 1.5 s.
Not a timed test: `python bench/lsp_latency.py [--edits N] [--sizes 100,1000,5000]`.
"""

from __future__ import annotations

import argparse
import ast
import asyncio
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
        import os
        await self.client.start_io(sys.executable, "-m", "torchlint", "server", *(["--log-file", os.environ["TL_LOG"]] if os.environ.get("TL_LOG") else []))
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
            except asyncio.TimeoutError:
                pass
        return self.published[(uri, version)]

    async def stop(self) -> None:
        await self.client.shutdown_async(None)
        self.client.exit(None)
        await self.client.stop()


async def measure(lines: int, edits: int, workdir: Path) -> dict:
    text = generate(lines)
    root = workdir / f"ws{lines}"
    root.mkdir()
    path = root / "train.py"
    path.write_text(text)
    uri = from_fs_path(str(path))

    # baseline: ast.parse of the same text, in this process
    parse_times = []
    for _ in range(max(edits, 10)):
        t0 = time.perf_counter()
        ast.parse(text)
        parse_times.append(time.perf_counter() - t0)

    # the engine alone, in this process, on the same sequence of texts: what the LSP layer adds is the difference
    from torchlint.checker import Checker
    from torchlint.config import load_config

    checker = Checker(load_config(root), root)
    checker.check_file(str(path), text)
    engine_times = []
    for n in range(1, min(edits, 10) + 1):
        edited = text.replace("# rev 0", f"# rev {n}", 1)
        t0 = time.perf_counter()
        checker.set_overlay(str(path), edited)
        checker.check_file(str(path), edited)
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

    warm = []
    rev_line = text.splitlines().index("# rev 0")
    for n in range(1, edits + 1):
        # rewrite the "# rev N" comment: a keystroke's worth of change, and a new text to analyse
        old_line, new_line = f"# rev {n - 1}", f"# rev {n}"
        change = types.TextDocumentContentChangePartial(
            range=types.Range(types.Position(rev_line, 0), types.Position(rev_line, len(old_line))), text=new_line
        )
        t0 = time.perf_counter()
        bench.client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=n + 1), content_changes=[change]
            )
        )
        warm.append(await bench.wait(uri, n + 1) - t0)
        print(f"  edit {n}: {warm[-1] * 1000:.0f} ms", file=sys.stderr, flush=True)
    await bench.stop()
    return {
        "lines": text.count("\n"),
        "cold": cold,
        "warm_p50": pct(warm, 0.5),
        "warm_p95": pct(warm, 0.95),
        "ast_p50": statistics.median(parse_times),
        "engine_p50": statistics.median(engine_times),
    }


async def main_async(sizes: list[int], edits: int) -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            rows.append(await measure(n, edits, Path(tmp)))
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="100,1000,5000")
    ap.add_argument("--edits", type=int, default=20)
    args = ap.parse_args(argv)
    rows = asyncio.run(main_async([int(s) for s in args.sizes.split(",")], args.edits))
    ms = 1000.0
    print("times in ms; warm = didChange -> publishDiagnostics (debounce 0); engine = Checker.check_file in-process")
    print(
        f"{'lines':>6} {'cold':>7} {'warm p50':>9} {'warm p95':>9} {'engine p50':>11} {'ast.parse p50':>14}"
        f" {'p50/ast':>8} {'p95/ast':>8}"
    )
    for r in rows:
        print(
            f"{r['lines']:>6} {r['cold'] * ms:>7.0f} {r['warm_p50'] * ms:>9.1f} {r['warm_p95'] * ms:>9.1f}"
            f" {r['engine_p50'] * ms:>11.1f} {r['ast_p50'] * ms:>14.2f}"
            f" {r['warm_p50'] / r['ast_p50']:>8.1f} {r['warm_p95'] / r['ast_p50']:>8.1f}"
        )
    ok_warm = all(r["warm_p95"] < 0.050 for r in rows if 500 <= r["lines"] <= 2000)
    ok_cold = all(r["cold"] < 1.5 for r in rows)
    print(f"targets: warm p95 < 50 ms at ~1,000 lines: {'met' if ok_warm else 'MISSED'}; "
          f"cold first diagnostics < 1.5 s: {'met' if ok_cold else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
