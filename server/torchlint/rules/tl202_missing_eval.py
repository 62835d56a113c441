from __future__ import annotations

from ..analysis import edits
from ..analysis.findings import Fix, Severity
from . import register
from .base import Rule


@register
class MissingEval(Rule):
    """## What it does
    Checks for evaluation or inference loops (a loop over a data loader that runs the
    model and never trains it) reached without `model.eval()` on every path. Calls from
    other functions in the file count: an `evaluate(model, loader)` whose callers all
    call `model.eval()` first is fine; a function nobody in the file calls is judged on
    its own body.

    ## Why is this bad?
    In training mode, dropout randomly zeroes activations and batch norm normalises with
    the statistics of the current batch (and updates its running averages with test
    data). Metrics come out noisy and too low, and depend on the batch size.

    ## Example
    ```python
    def evaluate(model, loader):
        with torch.no_grad():
            for x, y in loader:
                correct += (model(x).argmax(1) == y).sum().item()
    ```

    ## Use instead
    ```python
    def evaluate(model, loader):
        model.eval()
        with torch.no_grad():
            for x, y in loader:
                correct += (model(x).argmax(1) == y).sum().item()
    ```

    ## Fix safety
    Safe: inserts `model.eval()` just before the loop. If the caller then resumes training,
    it needs `model.train()` afterwards (TL201 reports that).

    ## References
    - [torch.nn.Module.eval](https://pytorch.org/docs/stable/generated/torch.nn.Module.html#torch.nn.Module.eval)
    """

    code = "TL202"
    name = "missing-eval"
    severity = Severity.WARNING
    fix = "safe"

    def check(self, ctx):
        for loop, node, event in ctx.flow.evaluation_loops():
            target = event.target
            if not target:
                continue
            modes = ctx.flow.mode_on_entry(loop.cfg, node, target)
            if "unknown" in modes or "train" not in modes:
                continue
            fix = None
            edit = edits.insert_line_before(ctx.source, loop.node, f"{target}.eval()")
            if edit is not None:
                fix = Fix(f"Insert `{target}.eval()` before the loop", (edit,), "safe")
            yield ctx.finding(
                self,
                event.call,
                f"`{ctx.source.segment(event.call)}` runs in training mode: this evaluation loop is "
                f"reached without `{target}.eval()`, so dropout and batch norm behave as in training",
                fix=fix,
            )
