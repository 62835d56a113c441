from __future__ import annotations

import ast
import re

from ..analysis.events import Ev
from ..analysis.facts import Facts
from ..analysis.findings import Edit, Fix, Position, Severity, Span
from . import register
from ._helpers import frozen_models, repaired
from .base import Rule

_FROZEN = re.compile(r"requires_grad_\(\s*False\s*\)|\.requires_grad\s*=\s*False")


@register
class MissingNoGrad(Rule):
    """## What it does
    Checks for evaluation loops outside `torch.no_grad()` / `torch.inference_mode()`.
    An evaluation loop is recognised by what it does with the model, whatever it iterates
    (a DataLoader, a generator of batches, `loaders['test']`, a parameter named `ds`, or
    `range(max_length)` for greedy decoding in a function that never trains): it runs the
    model and never trains, neither in the loop nor afterwards through what the loop
    computed (a teacher-forcing loop whose summed loss is backpropagated is training). Not
    evaluation loops: a loop that stops after its first batch (`print(out.shape); break`),
    loops inside a module's own methods, and loops that only look at output shapes.
    Decorators and callers in the same file that already disable gradients count, and so
    does a model frozen as a whole. One finding per loop.

    ## Why is this bad?
    Every forward pass records an autograd graph and keeps its activations alive until
    the outputs are freed: evaluation uses several times the memory it needs and runs
    slower, and an accumulated output tensor can keep all of those graphs alive.

    ## Example
    ```python
    model.eval()
    for x, y in test_loader:
        preds.append(model(x))
    ```

    ## Use instead
    ```python
    model.eval()
    with torch.no_grad():
        for x, y in test_loader:
            preds.append(model(x))
    ```

    ## Fix safety
    Safe: wraps the loop in `with torch.no_grad():` (only offered when `torch` is imported
    under that name and the loop holds no multi-line string that re-indenting would change).

    ## References
    - [torch.no_grad](https://pytorch.org/docs/stable/generated/torch.no_grad.html)
    - [torch.inference_mode](https://pytorch.org/docs/stable/generated/torch.inference_mode.html)
    """

    code = "TL203"
    name = "missing-no-grad"
    severity = Severity.INFORMATION
    fix = "safe"

    def check(self, ctx):
        # a model whose parameters are all frozen builds no graph: nothing to save
        frozen = frozen_models(ctx.model) if _FROZEN.search(ctx.source.text) else set()
        seen = set()
        for loop, node, event in ctx.flow.evaluation_loops():
            # one entry per model the loop runs, one finding per loop: the first model not frozen
            if loop in seen or event.target in frozen or repaired(ctx.model, loop.cfg.scope, loop.node):
                continue
            seen.add(loop)
            forwards = [e for _, e in loop.events(Ev.FORWARD, direct_only=True)]
            if all(e.no_grad for e in forwards) or ctx.flow.in_no_grad(loop.node):
                continue
            if ctx.flow.grad_disabled_on_entry(loop.cfg):
                continue
            header = ctx.source.span(loop.node)
            at = Span(header.start, ctx.source.span(loop.node.iter).end)
            msg = (
                f"this evaluation loop runs `{ctx.source.segment(event.call)}` with gradients enabled: "
                f"wrap it in `with torch.no_grad():` (or `torch.inference_mode()`) to save memory and time"
            )
            if _volatile(loop.cfg.scope):
                msg += " (`Variable(..., volatile=True)` has done nothing since PyTorch 0.4)"
            yield ctx.finding(self, at, msg, fix=self._fix(ctx, loop.node))

    @staticmethod
    def _fix(ctx, loop: ast.stmt) -> Fix | None:
        src = ctx.source
        if ctx.model.imports.get("torch") != "torch":
            return None
        from ..analysis.edits import newline, stands_alone

        if not stands_alone(src, loop):
            return None
        for n in ast.walk(loop):
            if isinstance(n, (ast.Constant, ast.JoinedStr)) and (n.end_lineno or n.lineno) > n.lineno:
                return None
        first, last = loop.lineno - 1, (loop.end_lineno or loop.lineno) - 1
        indent = src.line_indent(first)
        unit = "\t" if "\t" in indent else "    "
        nl = newline(src)
        body = [(unit + line) if line.strip() else line for line in src.lines[first : last + 1]]
        text = f"{indent}with torch.no_grad():{nl}" + nl.join(body)
        edit = Edit(Span(Position(first, 0), src.line_end(last)), text)
        return Fix("Wrap the loop in `with torch.no_grad():`", (edit,), "safe")


def _counts_on_volatile(scope: ast.AST) -> bool:
    """The code counts on `Variable(x, volatile=True)`, the pre-0.4 way to turn gradients off."""
    return any(
        isinstance(n, ast.keyword)
        and n.arg == "volatile"
        and isinstance(n.value, ast.Constant)
        and n.value.value is True
        for n in ast.walk(scope)
    )


# once per scope (asked for each of its evaluation loops: a function may hold thousands)
_volatile: Facts[ast.AST, bool] = Facts(_counts_on_volatile)
