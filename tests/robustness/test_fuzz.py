"""Issue 9: bad input gets a clear answer, never a crash.

Seeded fuzzing over mutations of real training scripts (truncation, deleted and duplicated
tokens, random characters and bytes, deep nesting, 100k-character lines, CRLF / CR line
endings, a BOM, NUL characters, invalid UTF-8, lone surrogates, tabs mixed with spaces),
through the three ways in: the engine in-process (one-shot and along chains of edits, as the
editor path sees them), the real CLI on a directory of mutated files, and the real language
server over stdio. The generator is our own `random.Random` with fixed seeds: every run sees
the same cases (the seed is in each failure message), and the numbers of cases are bounded
so that the whole file runs in about a minute on two cores.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from lsprotocol import types

from torchlint.analysis.findings import Span
from torchlint.checker import Checker
from torchlint.config import Config

ROOT = Path(__file__).resolve().parents[2]
# the server is started by the LSP tests' `start` fixture (see conftest.py), with lsp_harness

SEED = 9  # issue 9
CORPUS = [
    ROOT / "examples" / "buggy_train.py",
    ROOT / "examples" / "clean_train.py",
    ROOT / "examples" / "evaluation.py",
    *(
        ROOT / "tests" / "fixtures" / "rules" / name
        for name in (
            "TL101/amp_scaler_missing.py",
            "TL102/train_step_function.py",
            "TL104/clip_after_step.py",
            "TL201/validate_every_n_steps.py",
            "TL202/script_after_training.py",
            "TL203/eval_loop_grad.py",
            "TL204/train_with_data.py",
            "TL301/softmax_in_forward.py",
            "TL305/cifar_tutorial_style.py",
            "TL401/plain_lists.py",
            "TL402/missing.py",
            "TL404/calls_index.py",
            "TL501/not_shuffled.py",
        )
    ),
]
TEXTS = [p.read_text(encoding="utf-8") for p in CORPUS]
LINE_BREAK = re.compile(r"\r\n|\r|\n")


# -- the mutations ---------------------------------------------------------------------------
_TOKEN = re.compile(r"\w+|\s+|[^\w\s]")
_JUNK = [
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    ":",
    ",",
    ".",
    "=",
    "'",
    '"',
    '"""',
    "'''",
    "\\",
    "#",
    "@",
    "*",
    "**",
    "->",
    ":=",
    "lambda",
    "def ",
    "class ",
    "if ",
    "else:",
    "for ",
    "with ",
    "yield",
    "await ",
    "async ",
    "return",
    "pass",
    "match ",
    "case ",
    "f'{",
    "b'",
    "r'",
    "\n",
    "\t",
    "    ",
    " ",
    "\r",
    "\r\n",
    "\x00",
    "\x0b",
    "\x0c",
    "\x1c",
    "\x85",
    "\u2028",
    "\ufeff",
    "\u200b",
    "é",
    "ß",
    "日本",
    "😋",
    "\U0001d49c",
    "e\u0301",
    "\ud800",
    "\udfff",
    "\ufffd",
    "model.eval()",
    "optimizer.step()",
    "loss.backward()",
    "optimizer.zero_grad()",
    "torch.no_grad()",
    "nn.CrossEntropyLoss()",
    "F.softmax(x)",
]
_SURROGATES = ("\ud800", "\udbff", "\udc00", "\udfff")
_LINEISH = ["\n", "\r", "\r\n", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"]


def _at_line_start(rng: random.Random, text: str, insert: str) -> str:
    """`insert` (lines) above a random line, at that line's indentation (inside a loop body,
    a function, a class: where the rules look)."""
    starts = [0] + [m.end() for m in LINE_BREAK.finditer(text)]
    at = rng.choice(starts)
    indent = re.match(r"[ \t]*", text[at:]).group()
    return text[:at] + "".join(indent + line + "\n" for line in insert.split("\n") if line) + text[at:]


def truncate(rng, text):
    return text[: rng.randrange(len(text) + 1)]


def delete_tokens(rng, text):
    toks = _TOKEN.findall(text)
    for _ in range(rng.randint(1, 4)):
        if toks:
            del toks[rng.randrange(len(toks))]
    return "".join(toks)


def duplicate_tokens(rng, text):
    toks = _TOKEN.findall(text)
    for _ in range(rng.randint(1, 4)):
        if toks:
            i = rng.randrange(len(toks))
            toks.insert(i, toks[i])
    return "".join(toks)


def insert_junk(rng, text):
    for _ in range(rng.randint(1, 6)):
        at = rng.randrange(len(text) + 1)
        text = text[:at] + rng.choice(_JUNK) + text[at:]
    return text


def random_characters(rng, text):
    at = rng.randrange(len(text) + 1)
    junk = "".join(
        chr(
            rng.choice(
                [
                    rng.randrange(0x20),
                    rng.randrange(0x20, 0x7F),
                    rng.randrange(0x80, 0x800),
                    rng.randrange(0x800, 0x110000),
                ]
            )
        )
        for _ in range(rng.randint(1, 12))
    )
    return text[:at] + junk + text[at:]


def deep_nesting(rng, text):
    n = rng.choice([50, 99, 100, 199, 200, 201, 300, 1000])
    kind = rng.randrange(9)
    if kind == 0:
        code = "x = " + "(" * n + "1" + ")" * n
    elif kind == 1:
        code = "x = " + "[" * n + "]" * n
    elif kind == 2:
        code = "loss = " + "criterion(" * n + "model(x)" + ", y)" * n
    elif kind == 3:
        code = "x = " + "(" * n  # never closed
    elif kind == 4:
        code = "".join(" " * i + "if x:\n" for i in range(min(n, 120))) + " " * min(n, 120) + "loss.backward()"
    elif kind == 5:
        code = (
            "for x, y in loader:\n"
            + "".join(" " * (i + 1) + "with torch.no_grad():\n" for i in range(min(n, 110)))
            + " " * (min(n, 110) + 1)
            + "optimizer.step()"
        )
    elif kind == 6:
        code = "if a:\n    pass\n" + "elif a:\n    loss.backward()\n" * n
    elif kind == 7:
        code = "loss = " + " + ".join(["criterion(model(x), y)"] * n)
    else:
        code = "x = " + "lambda: " * n + "model" + ".m" * n + "(x)" * min(n, 300)
    return _at_line_start(rng, text, code)


def long_line(rng, text):
    n = 100_000
    kind = rng.randrange(5)
    if kind == 0:
        line = "x = '" + "a" * n + "'"
    elif kind == 1:
        line = "# " + "é😋" * (n // 2)
    elif kind == 2:
        line = "x = " + "1+" * (n // 2) + "1"
    elif kind == 3:
        line = "model.eval(); " * (n // 14)
    else:
        line = "v" * n + " = torch.nn.Linear(1, 1)"
    return _at_line_start(rng, text, line)


def line_endings(rng, text):
    lines = LINE_BREAK.split(text)
    kind = rng.randrange(3)
    if kind < 2:
        return ("\r\n", "\r")[kind].join(lines)
    return "".join(line + rng.choice(["\n", "\r\n", "\r"]) for line in lines[:-1]) + lines[-1]


def tabs_and_spaces(rng, text):
    lines = LINE_BREAK.split(text)
    for _ in range(rng.randint(1, 8)):
        i = rng.randrange(len(lines))
        lines[i] = re.sub(
            r"^( {4})+", lambda m: rng.choice(["\t", "\t    ", "  \t", "\t" * (len(m.group()) // 4)]), lines[i]
        )
    return "\n".join(lines)


def bom(rng, text):
    return "\ufeff" + text


def nul(rng, text):
    at = rng.randrange(len(text) + 1)
    return text[:at] + "\x00" + text[at:]


def surrogate(rng, text):
    at = rng.randrange(len(text) + 1)
    return text[:at] + rng.choice(_SURROGATES) + text[at:]


TEXT_MUTATIONS = [
    truncate,
    delete_tokens,
    duplicate_tokens,
    insert_junk,
    random_characters,
    deep_nesting,
    long_line,
    line_endings,
    tabs_and_spaces,
    bom,
    nul,
    surrogate,
]
# the cheap ones, for chains of edits
EDIT_MUTATIONS = [
    truncate,
    delete_tokens,
    duplicate_tokens,
    insert_junk,
    random_characters,
    deep_nesting,
    line_endings,
    tabs_and_spaces,
    nul,
    surrogate,
]


def mutate_text(rng: random.Random, text: str, kinds=TEXT_MUTATIONS) -> tuple[str, list[str]]:
    names = []
    for _ in range(rng.choice([1, 1, 2, 3])):
        m = rng.choice(kinds)
        names.append(m.__name__)
        text = m(rng, text)
    return text, names


def mutate_bytes(rng: random.Random, text: str) -> tuple[bytes, list[str]]:
    text, names = mutate_text(rng, text)
    data = text.encode("utf-8", "surrogatepass")  # a lone surrogate becomes invalid UTF-8
    for _ in range(rng.choice([0, 0, 1, 2])):
        kind = rng.randrange(6)
        at = rng.randrange(len(data) + 1)
        if kind == 0:
            names.append("random_bytes")
            data = data[:at] + bytes(rng.randrange(256) for _ in range(rng.randint(1, 8))) + data[at:]
        elif kind == 1:
            names.append("invalid_utf8")
            data = (
                data[:at]
                + rng.choice([b"\xff", b"\xc3", b"\xe2\x82", b"\xed\xa0\x80", b"\xc0\xaf", b"\xf8\x88\x80\x80\x80"])
                + data[at:]
            )
        elif kind == 2:
            names.append("truncate_bytes")  # maybe inside a multi-byte character
            data = data[:at]
        elif kind == 3:
            names.append("bom_bytes")
            data = b"\xef\xbb\xbf" + data
        elif kind == 4:
            names.append("coding_cookie")
            codec = rng.choice(
                [
                    "latin-1",
                    "utf-16",
                    "ascii",
                    "undefined",
                    "rot13",
                    "unicode_escape",
                    "punycode",
                    "idna",
                    "utf-7",
                    "nope",
                    "cp1252",
                    "utf-8-sig",
                    "hex",
                ]
            )
            data = f"# -*- coding: {codec} -*-\n".encode() + data
        else:
            names.append("nul_bytes")
            data = data[:at] + b"\x00" * rng.randint(1, 3) + data[at:]
    return data, names


# -- properties ------------------------------------------------------------------------------
def assert_inside(lines: list[str], spans, what: str) -> None:
    for span in spans:
        assert isinstance(span, Span), what
        assert span.start <= span.end, f"{what}: {span} runs backwards"
        for pos in (span.start, span.end):
            assert 0 <= pos.line < len(lines), f"{what}: {span} is not inside the {len(lines)} lines of the text"
            assert 0 <= pos.column <= len(lines[pos.line]), (
                f"{what}: {span} is not inside line {pos.line} ({len(lines[pos.line])} characters)"
            )


def check_report(checker: Checker, path: str, text: str, case: str) -> list:
    report = checker.check_file(path, text)
    assert report.errors == [], f"{case}: internal errors {report.errors}"
    lines = LINE_BREAK.split(text)
    for f in report.findings:
        spans = [f.span, *(r.span for r in f.related if r.path == path)]
        if f.fix is not None:
            spans.extend(e.span for e in f.fix.edits)
        assert_inside(lines, spans, f"{case}: {f.code} {f.message!r}")
        assert isinstance(f.message, str) and f.message
    assert_inside(lines, report.training_loops, f"{case}: training loop")
    return report.findings


# -- (a) the engine in-process ------------------------------------------------------------------
ONE_SHOT_CASES = 600
CHAINS, CHAIN_STEPS = 40, 12


def test_engine_never_raises_on_mutated_scripts(tmp_path):
    rng = random.Random(SEED)
    checker = Checker(Config(), tmp_path)  # one workspace for all, as in a CLI run
    t0, slowest = time.monotonic(), (0.0, "")
    for i in range(ONE_SHOT_CASES):
        base = rng.randrange(len(TEXTS))
        text, names = mutate_text(rng, TEXTS[base])
        case = f"seed {SEED} case {i}: {CORPUS[base].name} {'+'.join(names)}"
        t = time.monotonic()
        check_report(checker, str(tmp_path / f"case{i % 7}.py"), text, case)
        slowest = max(slowest, (time.monotonic() - t, case))
    assert slowest[0] < 10, f"one file took {slowest[0]:.1f} s: {slowest[1]}"
    print(
        f"{ONE_SHOT_CASES} one-shot cases in {time.monotonic() - t0:.1f} s (slowest {slowest[0]:.2f} s: {slowest[1]})"
    )


def test_editor_path_never_raises_along_chains_of_bad_edits(tmp_path):
    """`Checker(incremental=True)` keeps state between edits: every step is checked, and the
    last text of each chain gets the findings a fresh analysis gives."""
    rng = random.Random(SEED + 1)
    t0 = time.monotonic()
    for c in range(CHAINS):
        base = rng.randrange(len(TEXTS))
        path = tmp_path / f"chain{c}.py"
        path.write_text(TEXTS[base], encoding="utf-8")  # on disk: the saved version
        editor = Checker(Config(), tmp_path, incremental=True)
        text = TEXTS[base]
        for step in range(CHAIN_STEPS):
            # mostly small edits of the current text, now and then back to the saved one
            text = TEXTS[base] if rng.random() < 0.15 else mutate_text(rng, text, EDIT_MUTATIONS)[0]
            case = f"seed {SEED + 1} chain {c} step {step}: {CORPUS[base].name}"
            editor.set_overlay(str(path), text)
            got = check_report(editor, str(path), text, case)
        fresh = Checker(Config(), tmp_path)
        fresh.set_overlay(str(path), text)
        expected = check_report(fresh, str(path), text, case + " (fresh)")
        key = lambda f: (f.code, f.span, f.message)
        assert sorted(map(key, got)) == sorted(map(key, expected)), (
            f"{case}: the editor path and a fresh analysis differ"
        )
    print(f"{CHAINS} chains of {CHAIN_STEPS} edits in {time.monotonic() - t0:.1f} s")


# -- (b) the real CLI -----------------------------------------------------------------------------
CLI_FILES = 200
_NAMES = ["case{i:03d}_{stem}.py", "ünï cödé {i:03d}.py", "case {i:03d} with spaces.py", "{stem}.{i:03d}.py"]


def _cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "server")}
    return subprocess.run([sys.executable, "-m", "torchlint", *args], capture_output=True, timeout=240, env=env)


def _decoded(data: bytes) -> str | None:
    from torchlint.analysis.source import UnreadableFile, decode

    try:
        return decode(data)
    except UnreadableFile:
        return None


def _check_cli_run(
    r: subprocess.CompletedProcess, written: dict[str, tuple[bytes, list[str]]], what: str, directory: Path
) -> list[dict]:
    """Exit 0 or 1, nothing on stderr, valid JSON, one TL001 note for each file that is not
    text, and every other finding inside its file (as it is after the run: --fix)."""
    err = r.stderr.decode("utf-8", "replace")
    assert r.returncode in (0, 1), f"{what}: exit {r.returncode}\n{err[-3000:]}"
    assert "Traceback" not in err and err.strip() == "", f"{what}: stderr\n{err[-3000:]}"
    report = json.loads(r.stdout)  # valid JSON, whatever the files held
    assert isinstance(report, list)
    by_file: dict[str, list[dict]] = {}
    for d in report:
        name = Path(d["filename"]).name
        assert name in written, f"{what}: a finding for a file we did not write: {d['filename']}"
        by_file.setdefault(name, []).append(d)
    for name, (_, names) in written.items():
        text = _decoded((directory / name).read_bytes())
        found = by_file.get(name, [])
        case = f"{what}: {name} ({'+'.join(names)})"
        if text is None:  # bytes that are not text: one note, nothing else
            assert [d["code"] for d in found] == ["TL001"], f"{case}: {found}"
            continue
        lines = LINE_BREAK.split(text)
        for d in found:
            for loc in (d["location"], d["end_location"]):
                row, col = loc["row"], loc["column"]
                assert 1 <= row <= len(lines) and 1 <= col <= len(lines[row - 1]) + 1, f"{case}: {d['code']} at {loc}"
    return report


def test_cli_never_crashes_on_a_directory_of_mutated_files(tmp_path):
    rng = random.Random(SEED + 2)
    src, fixed = tmp_path / "src", tmp_path / "fixed"
    src.mkdir()
    written: dict[str, tuple[bytes, list[str]]] = {}
    for i in range(CLI_FILES):
        base = rng.randrange(len(TEXTS))
        data, names = mutate_bytes(rng, TEXTS[base])
        name = _NAMES[i % len(_NAMES)].format(i=i, stem=CORPUS[base].stem)
        (src / name).write_bytes(data)
        written[name] = (data, [CORPUS[base].name, *names])
    fixed.mkdir()
    for name, (data, _) in written.items():
        (fixed / name).write_bytes(data)
    t0 = time.monotonic()
    report = _check_cli_run(_cli("check", "--format", "json", str(src)), written, f"seed {SEED + 2}: check", src)
    assert {d["code"] for d in report} >= {"syntax-error", "TL001"}  # the mutations did reach both
    _check_cli_run(
        _cli("check", "--fix", "--format", "json", str(fixed)), written, f"seed {SEED + 2}: check --fix", fixed
    )
    for name, (data, names) in written.items():
        after = (fixed / name).read_bytes()
        if after == data:
            continue
        before_text, after_text = _decoded(data), _decoded(after)
        assert before_text is not None and after_text is not None, f"{name}: --fix wrote a file that does not decode"
        breaks = set(LINE_BREAK.findall(before_text)) or {"\n"}
        assert set(LINE_BREAK.findall(after_text)) <= breaks, (
            f"{name} ({'+'.join(names)}): --fix changed the line endings"
        )
    print(f"CLI: {CLI_FILES} files checked, then fixed, in {time.monotonic() - t0:.1f} s")


# -- (c) the real language server over stdio --------------------------------------------------------
LSP_DOCS, LSP_EDITS = 6, 20


def _units(s: str, encoding: str) -> int:
    return (
        len(s)
        if encoding == "utf-32"
        else len(s.encode("utf-8" if encoding == "utf-8" else "utf-16-le", "surrogatepass"))
        // (1 if encoding == "utf-8" else 2)
    )


def _small_change(rng: random.Random, text: str, encoding: str):
    """An incremental change as an editor sends it (a range in the client's units, and its new
    text): mostly the kind that keeps code valid (a comment typed at the end of a line, often
    holding a character `str.splitlines` takes for a line break; a statement added or a line
    deleted), else junk over a random range."""
    lines = LINE_BREAK.split(text)
    kind = rng.random()
    l1 = l2 = rng.randrange(len(lines))
    if kind < 0.4:  # a comment at the end of the line
        c1 = c2 = len(lines[l1])
        new = "  # " + "".join(rng.choice([*_LINEISH[3:], "é", "😋", "x", " "]) for _ in range(rng.randint(1, 6)))
    elif kind < 0.6:  # a statement above the line, at its indentation
        c1 = c2 = 0
        indent = re.match(r"[ \t]*", lines[l1]).group()
        new = indent + rng.choice(["optimizer.zero_grad()", "model.eval()", "x = 1", "pass", "print('é😋')"]) + "\n"
    elif kind < 0.7 and l1 + 1 < len(lines):  # delete the line
        c1, l2, c2 = 0, l1 + 1, 0
        new = ""
    else:  # junk over a random range
        c1 = rng.randrange(len(lines[l1]) + 1)
        l2 = min(len(lines) - 1, l1 + rng.choice([0, 0, 0, 1, 3]))
        c2 = rng.randrange(len(lines[l2]) + 1) if l2 > l1 else rng.randrange(c1, len(lines[l1]) + 1)
        new = rng.choice(_LINEISH) if rng.random() < 0.3 else rng.choice(["", *_JUNK])
    rng_ = types.Range(
        types.Position(l1, _units(lines[l1][:c1], encoding)), types.Position(l2, _units(lines[l2][:c2], encoding))
    )
    starts = [0] + [m.end() for m in LINE_BREAK.finditer(text)]
    return types.TextDocumentContentChangePartial(range=rng_, text=new), text[: starts[l1] + c1] + new + text[
        starts[l2] + c2 :
    ]


@pytest.mark.timeout(120)
@pytest.mark.parametrize("encoding", ["utf-16", "utf-8"])
async def test_server_keeps_answering_through_mutated_edits(start, capfd, encoding):
    from lsp_harness import codes, engine_findings

    rng = random.Random(f"{SEED + 3}-{encoding}")
    picks = [rng.randrange(len(TEXTS)) for _ in range(LSP_DOCS)]
    # unique module names: no document imports another, so a fresh analysis of the disk and
    # the other documents' saved texts is what the server must say for each one
    files = {f"doc{d}_{CORPUS[b].stem}.py": TEXTS[b] for d, b in enumerate(picks)}
    s = await start("neovim", encodings=[encoding], pull=False, files=files)
    assert s.encoding == encoding
    t0 = time.monotonic()
    uris = {}
    for name, saved in files.items():
        text, _ = mutate_text(rng, saved)
        uris[name] = s.open(name, text)  # unsaved from the start
    for step in range(LSP_EDITS):
        for name, uri in uris.items():
            if rng.random() < 0.75:
                change, text = _small_change(rng, s.texts[uri], s.encoding)
                s.change(uri, [change], text)
            elif rng.random() < 0.5:  # the saved text again (undo all), sent as one change
                s.replace(uri, files[name])
            else:
                s.replace(uri, mutate_text(rng, s.texts[uri], EDIT_MUTATIONS)[0])
        await asyncio.sleep(rng.choice([0, 0.01, 0.05]))  # now and then an analysis in between
    for name, uri in uris.items():
        text = s.texts[uri]
        diags = await s.diagnostics(uri, timeout=60)  # published for the last version
        findings = engine_findings(s.root / name, text)
        case = f"seed {SEED + 3}-{encoding}: {name}"
        got = sorted(
            (str(d.code), d.range.start.line, d.range.start.character, d.range.end.line, d.range.end.character)
            for d in diags
        )
        lines = LINE_BREAK.split(text)
        want = sorted(
            (
                f.code,
                f.span.start.line,
                _units(lines[f.span.start.line][: f.span.start.column], s.encoding),
                f.span.end.line,
                _units(lines[f.span.end.line][: f.span.end.column], s.encoding),
            )
            for f in findings
        )
        assert got == want, f"{case}: the server and a fresh analysis of the editor's text differ ({codes(diags)})"
        # ...and it still answers requests on it
        line = rng.randrange(len(lines))
        at = types.Position(line, _units(lines[line][: rng.randrange(len(lines[line]) + 1)], s.encoding))
        await asyncio.wait_for(
            s.client.text_document_hover_async(
                types.HoverParams(text_document=types.TextDocumentIdentifier(uri=uri), position=at)
            ),
            30,
        )
        whole = types.Range(types.Position(0, 0), types.Position(len(lines) - 1, _units(lines[-1], s.encoding)))
        await asyncio.wait_for(s.code_actions(uri, whole, diags), 30)
    errors = [m.message for m in s.client.messages if m.type == types.MessageType.Error]
    errors += [m.message for m in s.client.log_messages if m.type == types.MessageType.Error]
    assert errors == [], errors
    assert s.client.error is None
    await asyncio.sleep(0.2)
    err = capfd.readouterr().err
    assert "Traceback" not in err and " ERROR " not in err, err[-3000:]
    print(f"server ({encoding}): {LSP_DOCS} documents x {LSP_EDITS} edits in {time.monotonic() - t0:.1f} s")
