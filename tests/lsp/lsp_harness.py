"""Shared by the LSP tests. End-to-end harness: the real server (`python -m torchlint server`) over stdio, driven by pytest-lsp."""

from __future__ import annotations

import asyncio
import re
import sys
import textwrap
import time
from pathlib import Path

from lsprotocol import types
from pygls.protocol import default_converter
from pygls.uris import from_fs_path
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities
from pytest_lsp.client import DEFAULT_CLIENT_FEATURES, register_lsp_features

CLIENTS = ["visual-studio-code", "neovim"]

BUGGY_TRAIN = textwrap.dedent(
    """\
    import torch
    import torch.nn as nn

    model = nn.Linear(4, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    loss_fn = nn.CrossEntropyLoss()
    loader = [(torch.randn(8, 4), torch.randint(0, 2, (8,))) for _ in range(3)]

    for x, y in loader:
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
    """
)


class Session:
    """A client talking to one server, with the helpers the tests share."""

    def __init__(
        self, client: LanguageClient, root: Path, capabilities: types.ClientCapabilities, result: types.InitializeResult
    ):
        self.client = client
        self.root = root
        self.capabilities = capabilities
        self.result = result
        self.encoding = result.capabilities.position_encoding or "utf-16"
        self.pull = capabilities.text_document is not None and capabilities.text_document.diagnostic is not None
        self.texts: dict[str, str] = {}
        self.versions: dict[str, int] = {}

    # -- documents --------------------------------------------------------------------
    def write(self, name: str, text: str) -> str:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return from_fs_path(str(path))

    def open(self, name: str, text: str | None = None) -> str:
        path = self.root / name
        if text is None:
            text = path.read_text(encoding="utf-8")
        elif not path.exists():
            self.write(name, text)
        uri = from_fs_path(str(path))
        self.texts[uri], self.versions[uri] = text, 1
        self.client.text_document_did_open(
            types.DidOpenTextDocumentParams(types.TextDocumentItem(uri=uri, language_id="python", version=1, text=text))
        )
        return uri

    def replace(self, uri: str, text: str) -> int:
        """Send the new text as one incremental change covering the whole old text."""
        old = self.texts[uri]
        lines = re.split(r"\r\n|\r|\n", old)
        end = types.Position(line=len(lines) - 1, character=units(lines[-1], self.encoding))
        return self.change(
            uri, [types.TextDocumentContentChangePartial(range=types.Range(types.Position(0, 0), end), text=text)], text
        )

    def change(self, uri: str, changes: list, new_text: str) -> int:
        self.versions[uri] += 1
        self.texts[uri] = new_text
        self.client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=self.versions[uri]),
                content_changes=changes,
            )
        )
        return self.versions[uri]

    def close(self, uri: str) -> None:
        self.client.text_document_did_close(types.DidCloseTextDocumentParams(types.TextDocumentIdentifier(uri=uri)))

    # -- diagnostics ------------------------------------------------------------------------
    async def diagnostics(self, uri: str, timeout: float = 90.0, until=None) -> list[types.Diagnostic]:
        """Diagnostics of the current version: pulled, or waited for as published."""
        deadline = time.monotonic() + timeout
        while True:
            if self.pull:
                report = await self.client.text_document_diagnostic_async(
                    types.DocumentDiagnosticParams(text_document=types.TextDocumentIdentifier(uri=uri))
                )
                diags = list(report.items)
            else:
                diags = None
                for params in reversed(self.client.published):
                    if params.uri == uri:
                        if params.version == self.versions.get(uri) or (uri not in self.versions):
                            diags = list(params.diagnostics)
                        break
            if diags is not None and (until is None or until(diags)):
                return diags
            if time.monotonic() > deadline:
                raise AssertionError(f"no matching diagnostics for {uri} (last: {diags})")
            await asyncio.sleep(0.05)

    # -- code actions --------------------------------------------------------------------
    async def code_actions(self, uri: str, rng: types.Range, diagnostics=(), only=None) -> list[types.CodeAction]:
        result = await self.client.text_document_code_action_async(
            types.CodeActionParams(
                text_document=types.TextDocumentIdentifier(uri=uri),
                range=rng,
                context=types.CodeActionContext(diagnostics=list(diagnostics), only=only),
            )
        )
        return [a for a in result or [] if isinstance(a, types.CodeAction)]

    def apply(self, edit: types.WorkspaceEdit) -> dict[str, int]:
        """Apply a workspace edit like an editor would, then send the new texts."""
        per_uri: dict[str, list[types.TextEdit]] = {}
        if edit.document_changes:
            for dc in edit.document_changes:
                assert isinstance(dc, types.TextDocumentEdit)
                assert dc.text_document.version == self.versions[dc.text_document.uri], "edit made for another version"
                per_uri.setdefault(dc.text_document.uri, []).extend(dc.edits)
        for uri, edits in (edit.changes or {}).items():
            per_uri.setdefault(uri, []).extend(edits)
        versions = {}
        for uri, edits in per_uri.items():
            new = apply_text_edits(self.texts[uri], edits, self.encoding)
            versions[uri] = self.replace(uri, new)
        return versions


def units(s: str, encoding: str) -> int:
    if encoding == "utf-8":
        return len(s.encode("utf-8"))
    if encoding == "utf-32":
        return len(s)
    return len(s.encode("utf-16-le")) // 2


def to_offset(text: str, pos: types.Position, encoding: str) -> int:
    starts = [0] + [m.end() for m in re.finditer(r"\r\n|\r|\n", text)]
    if pos.line >= len(starts):
        return len(text)
    line_start = starts[pos.line]
    line_end = starts[pos.line + 1] if pos.line + 1 < len(starts) else len(text)
    line = text[line_start:line_end].rstrip("\r\n")
    count = 0
    for i, ch in enumerate(line):
        if count >= pos.character:
            return line_start + i
        count += units(ch, encoding)
    return line_start + len(line)


def apply_text_edits(text: str, edits: list[types.TextEdit], encoding: str) -> str:
    spans = sorted(
        ((to_offset(text, e.range.start, encoding), to_offset(text, e.range.end, encoding), e.new_text) for e in edits),
        reverse=True,
    )
    for a, b, new in spans:
        text = text[:a] + new + text[b:]
    return text


def client_range(text: str, line: int, start_col: int, end_col: int, encoding: str) -> types.Range:
    """A range on one line given in code points, converted to the client's units."""
    content = re.split(r"\r\n|\r|\n", text)[line]
    return types.Range(
        start=types.Position(line=line, character=units(content[:start_col], encoding)),
        end=types.Position(line=line, character=units(content[:end_col], encoding)),
    )


def _make_client() -> LanguageClient:
    client = LanguageClient(converter_factory=default_converter)
    client.published = []  # every publishDiagnostics, in order, with its version
    client.registrations = []
    features = dict(DEFAULT_CLIENT_FEATURES)

    def publish(client: LanguageClient, params: types.PublishDiagnosticsParams):
        client.diagnostics[params.uri] = params.diagnostics
        client.published.append(params)

    def register_capability(client: LanguageClient, params: types.RegistrationParams):
        client.registrations.extend(params.registrations)

    features[types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS] = publish
    features[types.CLIENT_REGISTER_CAPABILITY] = register_capability
    register_lsp_features(client, features)
    return client


SERVER = ClientServerConfig(server_command=[sys.executable, "-m", "torchlint", "server"], client_factory=_make_client)


def capabilities_for(
    name: str, *, encodings: list[str] | None = None, pull: bool | None = None
) -> types.ClientCapabilities:
    caps = client_capabilities(name)
    if encodings is not None:
        caps.general = caps.general or types.GeneralClientCapabilities()
        caps.general.position_encodings = encodings
    if pull is True and (caps.text_document.diagnostic is None):
        caps.text_document.diagnostic = types.DiagnosticClientCapabilities(related_document_support=False)
        caps.workspace.diagnostics = types.DiagnosticWorkspaceClientCapabilities(refresh_support=True)
    if pull is False:
        caps.text_document.diagnostic = None
    return caps


def codes(diags) -> list[str]:
    return sorted(str(d.code) for d in diags)


def engine_findings(path: Path, text: str):
    """What the engine itself says (in-process), to compare the server's ranges with."""
    from torchlint.checker import Checker
    from torchlint.config import load_config

    root = path.parent
    return Checker(load_config(root), root).check_file(str(path), text).findings


def expected_range(text: str, span, encoding: str) -> types.Range:
    lines = re.split(r"\r\n|\r|\n", text)
    return types.Range(
        start=types.Position(
            line=span.start.line, character=units(lines[span.start.line][: span.start.column], encoding)
        ),
        end=types.Position(line=span.end.line, character=units(lines[span.end.line][: span.end.column], encoding)),
    )
