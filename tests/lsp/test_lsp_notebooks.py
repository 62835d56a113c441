"""Notebook documents over stdio (LSP 3.17 `notebookDocument/*`, VS Code's cell URIs): the
cells are analysed as one program, diagnostics, quick fixes, hover and lenses work per cell,
and an edit in one cell re-analyses the others."""

from __future__ import annotations

import pytest
from lsp_harness import apply_text_edits, units
from lsprotocol import types
from pygls.uris import from_fs_path

IMPORTS = "import torch\nimport torch.nn as nn\n"
MODEL = (
    "model = nn.Sequential(nn.Linear(4, 16), nn.Dropout(0.2), nn.Linear(16, 2))\n"
    "optimizer = torch.optim.SGD(model.parameters(), lr=0.1)\ncriterion = nn.CrossEntropyLoss()\n"
)
EVALUATE = (
    "def evaluate(model, loader):\n    model.eval()\n    total = 0\n    with torch.no_grad():\n"
    "        for x, y in loader:\n            total += criterion(model(x), y).item()\n    return total\n"
)
TRAIN = (
    "for epoch in range(3):\n    model.train()\n    for x, y in train_loader:\n        optimizer.zero_grad()\n"
    "        loss = criterion(model(x), y)\n        loss.backward()\n        optimizer.step()\n"
    "        print(evaluate(model, test_loader))\n"
)


class Notebook:
    """A notebook as VS Code syncs it: one notebook document, one text document per cell."""

    def __init__(self, session, name: str, cells: list[tuple[str, str]]):
        self.session = session
        self.uri = from_fs_path(str(session.root / name))
        self.version = 1
        self._made = 0
        self.cells = [self._cell(kind, text) for kind, text in cells]
        session.client.notebook_document_did_open(
            types.DidOpenNotebookDocumentParams(
                notebook_document=types.NotebookDocument(
                    uri=self.uri, notebook_type="jupyter-notebook", version=1, cells=[c["cell"] for c in self.cells]
                ),
                cell_text_documents=[c["item"] for c in self.cells],
            )
        )
        for c in self.cells:
            session.texts[c["uri"]], session.versions[c["uri"]] = c["item"].text, 1

    def _cell(self, kind: str, text: str) -> dict:
        self._made += 1
        fragment = "W%dsZmlsZQ==" % self._made
        uri = "vscode-notebook-cell:" + self.uri[len("file://") :] + "#" + fragment
        kind_ = types.NotebookCellKind.Code if kind == "code" else types.NotebookCellKind.Markup
        item = types.TextDocumentItem(
            uri=uri, language_id="python" if kind == "code" else "markdown", version=1, text=text
        )
        return {"uri": uri, "cell": types.NotebookCell(kind=kind_, document=uri), "item": item}

    def uri_of(self, i: int) -> str:
        return self.cells[i]["uri"]

    def edit(self, i: int, new_text: str) -> None:
        """Replace cell i's whole text (one incremental change, as a paste would send it)."""
        s = self.session
        uri = self.uri_of(i)
        old = s.texts[uri]
        lines = old.split("\n")
        end = types.Position(line=len(lines) - 1, character=units(lines[-1], s.encoding))
        s.versions[uri] += 1
        s.texts[uri] = new_text
        self._change(
            types.NotebookDocumentCellChanges(
                text_content=[
                    types.NotebookDocumentCellContentChanges(
                        document=types.VersionedTextDocumentIdentifier(uri=uri, version=s.versions[uri]),
                        changes=[
                            types.TextDocumentContentChangePartial(
                                range=types.Range(types.Position(0, 0), end), text=new_text
                            )
                        ],
                    )
                ]
            )
        )

    def apply(self, edit: types.WorkspaceEdit) -> None:
        """Apply a quick fix's edit to the cells it names, like an editor."""
        s = self.session
        per_uri: dict[str, list[types.TextEdit]] = {}
        for dc in edit.document_changes or []:
            assert dc.text_document.version == s.versions[dc.text_document.uri], "edit made for another cell version"
            per_uri.setdefault(dc.text_document.uri, []).extend(dc.edits)
        for uri, edits in (edit.changes or {}).items():
            per_uri.setdefault(uri, []).extend(edits)
        for uri, edits in per_uri.items():
            i = next(k for k, c in enumerate(self.cells) if c["uri"] == uri)
            self.edit(i, apply_text_edits(s.texts[uri], edits, s.encoding))

    def insert(self, at: int, kind: str, text: str) -> None:
        c = self._cell(kind, text)
        self.cells.insert(at, c)
        self.session.texts[c["uri"]], self.session.versions[c["uri"]] = text, 1
        self._change(
            types.NotebookDocumentCellChanges(
                structure=types.NotebookDocumentCellChangeStructure(
                    array=types.NotebookCellArrayChange(start=at, delete_count=0, cells=[c["cell"]]),
                    did_open=[c["item"]],
                )
            )
        )

    def delete(self, at: int) -> None:
        c = self.cells.pop(at)
        self.session.versions.pop(c["uri"])  # closed: its next diagnostics carry no version
        self._change(
            types.NotebookDocumentCellChanges(
                structure=types.NotebookDocumentCellChangeStructure(
                    array=types.NotebookCellArrayChange(start=at, delete_count=1),
                    did_close=[types.TextDocumentIdentifier(uri=c["uri"])],
                )
            )
        )

    def move(self, src: int, dst: int) -> None:
        """A cell moved: VS Code sends a delete and an insert of the same cell, no text events."""
        c = self.cells.pop(src)
        self._change(
            types.NotebookDocumentCellChanges(
                structure=types.NotebookDocumentCellChangeStructure(
                    array=types.NotebookCellArrayChange(start=src, delete_count=1)
                )
            )
        )
        self.cells.insert(dst, c)
        self._change(
            types.NotebookDocumentCellChanges(
                structure=types.NotebookDocumentCellChangeStructure(
                    array=types.NotebookCellArrayChange(start=dst, delete_count=0, cells=[c["cell"]])
                )
            )
        )

    def _change(self, cells: types.NotebookDocumentCellChanges) -> None:
        self.version += 1
        self.session.client.notebook_document_did_change(
            types.DidChangeNotebookDocumentParams(
                notebook_document=types.VersionedNotebookDocumentIdentifier(uri=self.uri, version=self.version),
                change=types.NotebookDocumentChangeEvent(cells=cells),
            )
        )

    def close(self) -> None:
        for c in self.cells:
            self.session.versions.pop(c["uri"], None)
        self.session.client.notebook_document_did_close(
            types.DidCloseNotebookDocumentParams(
                notebook_document=types.NotebookDocumentIdentifier(uri=self.uri),
                cell_text_documents=[types.TextDocumentIdentifier(uri=c["uri"]) for c in self.cells],
            )
        )


def cells_of_training_notebook():
    return [
        ("markdown", "# Train\n"),
        ("code", "%matplotlib inline\n" + IMPORTS + "!pip install -q tqdm\n"),
        ("code", MODEL),
        ("code", EVALUATE),
        ("markdown", "## Loop"),
        ("code", TRAIN),
    ]


@pytest.mark.asyncio
@pytest.mark.parametrize("pull", [False, True], ids=["push", "pull"])
async def test_cross_cell_helper_finding_lands_on_the_training_cell(start, pull):
    s = await start("visual-studio-code", pull=pull)
    nb = Notebook(s, "train.ipynb", cells_of_training_notebook())
    diags = await s.diagnostics(nb.uri_of(5), until=lambda d: any(x.code == "TL201" for x in d))
    [d] = [x for x in diags if x.code == "TL201"]
    assert d.range.start.line == 7  # `print(evaluate(...))`, relative to the cell
    related = {(r.location.uri, r.location.range.start.line) for r in d.related_information}
    assert (nb.uri_of(3), 1) in related  # `model.eval()` inside the helper's cell
    for i in (1, 2, 3):  # magics are not syntax errors; the other cells are clean
        assert await s.diagnostics(nb.uri_of(i)) == []


@pytest.mark.asyncio
async def test_editing_the_helper_cell_clears_the_finding_in_the_training_cell(start):
    s = await start("visual-studio-code")
    nb = Notebook(s, "train.ipynb", cells_of_training_notebook())
    await s.diagnostics(nb.uri_of(5), until=lambda d: [x.code for x in d] == ["TL201"])
    nb.edit(3, EVALUATE.replace("    return total\n", "    model.train()\n    return total\n"))
    assert await s.diagnostics(nb.uri_of(5), until=lambda d: d == []) == []


@pytest.mark.asyncio
async def test_quick_fix_from_a_cell_edits_that_cell(start):
    s = await start("visual-studio-code")
    nb = Notebook(s, "train.ipynb", cells_of_training_notebook())
    uri = nb.uri_of(5)
    [d] = await s.diagnostics(uri, until=lambda d: [x.code for x in d] == ["TL201"])
    actions = await s.code_actions(uri, d.range, [d], only=[types.CodeActionKind.QuickFix])
    fix = next(a for a in actions if a.edit is not None and "train()" in a.title)
    nb.apply(fix.edit)
    assert s.texts[uri].count("model.train()") == 2  # inserted where training resumes, in this cell
    assert await s.diagnostics(uri, until=lambda d: d == []) == []


@pytest.mark.asyncio
async def test_hover_and_lens_work_per_cell(start):
    s = await start("visual-studio-code")
    nb = Notebook(s, "train.ipynb", cells_of_training_notebook())
    uri = nb.uri_of(5)
    [d] = await s.diagnostics(uri, until=lambda d: [x.code for x in d] == ["TL201"])
    hover = await s.client.text_document_hover_async(
        types.HoverParams(text_document=types.TextDocumentIdentifier(uri=uri), position=d.range.start)
    )
    assert hover is not None and "TL201" in str(hover.contents)
    lenses = await s.client.text_document_code_lens_async(
        types.CodeLensParams(text_document=types.TextDocumentIdentifier(uri=uri))
    )
    assert [lens.range.start.line for lens in lenses or []] == [2]  # the loop over train_loader, in this cell
    assert not await s.client.text_document_code_lens_async(
        types.CodeLensParams(text_document=types.TextDocumentIdentifier(uri=nb.uri_of(3)))
    )


@pytest.mark.asyncio
async def test_added_removed_and_moved_cells(start):
    s = await start("visual-studio-code")
    nb = Notebook(
        s,
        "train.ipynb",
        [
            ("code", IMPORTS + MODEL),
            (
                "code",
                "for x, y in train_loader:\n    loss = criterion(model(x), y)\n    loss.backward()\n    optimizer.step()\n",
            ),
        ],
    )
    await s.diagnostics(nb.uri_of(1), until=lambda d: [x.code for x in d] == ["TL101"])
    # a cell added above, with a broken line: its own syntax error, the loop's finding stays
    nb.insert(1, "code", "def plot(history:\n    pass\n")
    assert [x.code for x in await s.diagnostics(nb.uri_of(1), until=lambda d: d != [])] == ["syntax-error"]
    assert [x.code for x in await s.diagnostics(nb.uri_of(2), until=lambda d: d != [])] == ["TL101"]
    # the loop's cell moved to the top, then removed: its diagnostics are cleared
    loop_uri = nb.uri_of(2)
    nb.move(2, 0)
    nb.delete(0)
    await s.diagnostics(loop_uri, until=lambda d: d == [])
    assert [x.code for x in await s.diagnostics(nb.uri_of(1), until=lambda d: d != [])] == ["syntax-error"]
    nb.close()
    await s.diagnostics(nb.uri_of(1), until=lambda d: d == [])


RUNNABLE = [
    (
        "code",
        "import torch\nimport torch.nn as nn\nfrom torch.utils.data import DataLoader, TensorDataset\n%matplotlib inline\n",
    ),
    (
        "code",
        "torch.manual_seed(0)\nloader = DataLoader(TensorDataset(torch.randn(32, 8), torch.randint(0, 3, (32,))), batch_size=8, shuffle=True)\n"
        "model = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 3))\n"
        "opt = torch.optim.Adam(model.parameters(), lr=1e-2)\ncrit = nn.CrossEntropyLoss()\n",
    ),
    ("markdown", "## Train"),
    (
        "code",
        "for epoch in range(20):\n    for x, y in loader:\n        loss = crit(model(x), y)\n        loss.backward()\n        opt.step()\n",
    ),
]


@pytest.mark.asyncio
@pytest.mark.timeout(180)
async def test_overfit_check_from_a_cell_runs_the_notebook_and_reports_at_its_cells(start):
    import json

    s = await start("visual-studio-code", options={"overfit": {"steps": 30, "timeout": 150}})
    nb_json = {
        "cells": [
            {
                "cell_type": "code" if k == "code" else "markdown",
                "metadata": {},
                "source": t.splitlines(True),
                **({"outputs": [], "execution_count": None} if k == "code" else {}),
            }
            for k, t in RUNNABLE
        ],
        "metadata": {"kernelspec": {"language": "python", "name": "python3", "display_name": "Python 3"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    (s.root / "train.ipynb").write_text(json.dumps(nb_json, indent=1))
    nb = Notebook(s, "train.ipynb", RUNNABLE)
    uri = nb.uri_of(3)
    await s.diagnostics(uri, until=lambda d: [x.code for x in d] == ["TL101"])
    lenses = await s.client.text_document_code_lens_async(
        types.CodeLensParams(text_document=types.TextDocumentIdentifier(uri=uri))
    )
    [lens] = lenses
    report = await s.client.workspace_execute_command_async(
        types.ExecuteCommandParams(command=lens.command.command, arguments=lens.command.arguments)
    )
    assert report["script"].endswith("train.ipynb"), report
    assert [f["cell"] for f in report["findings"] if f["code"] == "TLR07"] == [4]
    # the runtime finding shows in the training cell, next to (or merged with) the static TL101
    diags = await s.diagnostics(
        uri,
        until=lambda d: any(
            "TLR07" in str(x.code)
            or "TLR07" in x.message
            or any("TLR07" in (r.message or "") for r in x.related_information or [])
            for x in d
        ),
    )
    assert all(d.range.start.line < 5 for d in diags)
