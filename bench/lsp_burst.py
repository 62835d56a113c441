"""Hover and code-action latency during a burst of edits across many open documents.

The real server (`python -m torchlint server`) over stdio, as VS Code drives it: 50 generated
training scripts (~300 lines, each with a TL101) are opened, then 2,000 edits go out at typing
speed (one every 10 ms, round robin over the documents, the server's default 150 ms debounce),
and after every 10th edit the client asks for a hover and for code actions on the TL101 of the
document it has just edited (the editor's cursor follows the typing). Prints p50/p95/max of each,
and checks every answer against the document's version: a code action's edit carries the version
it was computed for, which must not be older than the version the client had when it asked (it
may be newer: the burst goes on editing while the request is in flight, and the editor then
refuses the edit, as it should); a hover must cover the TL101's range.

Target (issue 13): p95 of hover and code action ≤ 200 ms during the burst; no answer for a stale
version. Not a timed test: `python bench/lsp_burst.py [--docs 50] [--edits 2000] [--every 10]`.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

from lsprotocol import types
from pygls.lsp.client import LanguageClient
from pygls.uris import from_fs_path

sys.path.insert(0, str(Path(__file__).parent))
from lsp_latency import generate, pct

BUG = "loss.backward()  # no zero_grad: one finding, so there is something to publish"


class Client:
    def __init__(self) -> None:
        self.client = LanguageClient("torchlint-burst", "1")
        self.published: dict[str, int | None] = {}

        @self.client.feature(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
        def on_publish(params: types.PublishDiagnosticsParams):
            self.published[params.uri] = params.version

        @self.client.feature(types.WORKSPACE_CONFIGURATION)
        def on_configuration(params: types.ConfigurationParams):
            return [None for _ in params.items]

    async def start(self, root: Path) -> None:
        await self.client.start_io(sys.executable, "-m", "torchlint", "server")
        await self.client.initialize_async(
            types.InitializeParams(
                capabilities=types.ClientCapabilities(
                    general=types.GeneralClientCapabilities(position_encodings=[types.PositionEncodingKind.Utf16]),
                    workspace=types.WorkspaceClientCapabilities(
                        configuration=False, workspace_edit=types.WorkspaceEditClientCapabilities(document_changes=True)
                    ),
                ),
                root_uri=from_fs_path(str(root)),
                initialization_options={},  # the default debounce, as in VS Code
            )
        )
        self.client.initialized(types.InitializedParams())

    async def stop(self) -> None:
        await self.client.shutdown_async(None)
        self.client.exit(None)
        await self.client.stop()


async def run(docs: int, edits: int, every: int, interval: float) -> dict:
    # the edits rewrite the first line: a comment, so that typing there changes no statement
    # (with the script's `import argparse` there, each document's first edit removed an import,
    # which rightly takes a full analysis: 50 of them in the burst's first second)
    text = "# rev 0\n" + generate(300)
    bug_line = next(i for i, line in enumerate(text.split("\n")) if line.strip() == BUG)
    indent = len(text.split("\n")[bug_line]) - len(BUG)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        c = Client()
        await c.start(root)
        uris, texts, versions = [], {}, {}
        for i in range(docs):
            path = root / f"train_{i}.py"
            path.write_text(text)
            uri = from_fs_path(str(path))
            uris.append(uri)
            texts[uri], versions[uri] = text, 1
            c.client.text_document_did_open(
                types.DidOpenTextDocumentParams(
                    types.TextDocumentItem(uri=uri, language_id="python", version=1, text=text)
                )
            )
        t0 = time.perf_counter()
        while any(c.published.get(u) != 1 for u in uris):
            await asyncio.sleep(0.05)
        opened = time.perf_counter() - t0

        hover_ms: list[float] = []
        action_ms: list[float] = []
        stale: list[str] = []
        newer: list[int] = []
        pending: list[asyncio.Task] = []

        async def ask(uri: str) -> None:
            version = versions[uri]
            pos = types.Position(bug_line, indent + 2)
            doc = types.TextDocumentIdentifier(uri=uri)
            t = time.perf_counter()
            h = await c.client.text_document_hover_async(types.HoverParams(text_document=doc, position=pos))
            hover_ms.append((time.perf_counter() - t) * 1000)
            if h is None or h.range is None or h.range.start.line != bug_line:
                stale.append(f"hover on {uri} v{version}: {h and h.range}")
            t = time.perf_counter()
            actions = await c.client.text_document_code_action_async(
                types.CodeActionParams(
                    text_document=doc, range=types.Range(pos, pos), context=types.CodeActionContext(diagnostics=[])
                )
            )
            action_ms.append((time.perf_counter() - t) * 1000)
            fixes = [a for a in actions or [] if isinstance(a, types.CodeAction) and a.edit and a.edit.document_changes]
            if not fixes:
                stale.append(f"no code action on {uri} v{version}")
            for a in fixes:
                for dc in a.edit.document_changes:
                    if dc.text_document.version is None or dc.text_document.version < version:
                        stale.append(f"code action for v{dc.text_document.version}, asked at v{version}")
                    elif dc.text_document.version > version:
                        newer.append(1)  # the document changed while the request was in flight

        # Edits: a comment line at the top changes on each keystroke (the TL101 stays where it is).
        t_burst = time.perf_counter()
        for n in range(1, edits + 1):
            uri = uris[n % docs]
            old_first = texts[uri].split("\n", 1)[0]
            versions[uri] += 1
            new_first = f"# rev {n}"
            texts[uri] = new_first + "\n" + texts[uri].split("\n", 1)[1]
            c.client.text_document_did_change(
                types.DidChangeTextDocumentParams(
                    text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=versions[uri]),
                    content_changes=[
                        types.TextDocumentContentChangePartial(
                            range=types.Range(types.Position(0, 0), types.Position(0, len(old_first))), text=new_first
                        )
                    ],
                )
            )
            if n % every == 0:
                # the next edits go to other documents while this one is asked about
                pending.append(asyncio.ensure_future(ask(uri)))
            await asyncio.sleep(interval)
        await asyncio.gather(*pending)
        burst = time.perf_counter() - t_burst
        await c.stop()
    return {
        "opened_s": opened,
        "burst_s": burst,
        "hover": hover_ms,
        "action": action_ms,
        "stale": stale,
        "newer": len(newer),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--docs", type=int, default=50)
    ap.add_argument("--edits", type=int, default=2000)
    ap.add_argument("--every", type=int, default=10, help="ask hover + code action after every N-th edit")
    ap.add_argument("--interval", type=float, default=0.010, help="seconds between edits")
    a = ap.parse_args(argv)
    r = asyncio.run(run(a.docs, a.edits, a.every, a.interval))
    print(f"{a.docs} documents opened and analysed in {r['opened_s']:.1f} s; {a.edits} edits in {r['burst_s']:.1f} s")
    for name in ("hover", "action"):
        v = r[name]
        print(f"{name:>7}: n={len(v)}  p50 {pct(v, 0.5):.0f} ms  p95 {pct(v, 0.95):.0f} ms  max {max(v):.0f} ms")
    print(
        f"answers for a stale version or missing: {len(r['stale'])}; "
        f"code actions for a version newer than the one asked about (edited in flight): {r['newer']}"
    )
    for s in r["stale"][:10]:
        print("  ", s)
    return 0


if __name__ == "__main__":
    sys.exit(main())
