from __future__ import annotations

import ast

from ..analysis.edits import add_keyword
from ..analysis.findings import Fix, Severity
from . import register
from .base import Rule

_CHECKPOINT = "torch.utils.checkpoint.checkpoint"


@register
class CheckpointReentrant(Rule):
    """## What it does
    Checks for calls of `torch.utils.checkpoint.checkpoint` that do not pass `use_reentrant=`
    (TorchFix `TOR003`). Imports are followed: `from torch.utils.checkpoint import checkpoint
    as cp` then `cp(block, x)` is the same call.

    ## Why is this bad?
    The default, reentrant implementation has known limits: it does not record the autograd
    graph of inputs that do not require grad (a checkpointed first block gets no gradient when
    its input is data), it does not support `torch.autograd.grad` or keyword arguments, and
    PyTorch warns on every call that does not choose. `use_reentrant=False` is the
    recommended implementation; PyTorch plans to make the argument required.

    ## Example
    ```python
    from torch.utils.checkpoint import checkpoint

    x = checkpoint(self.block, x)
    ```

    ## Use instead
    ```python
    from torch.utils.checkpoint import checkpoint

    x = checkpoint(self.block, x, use_reentrant=False)
    ```

    ## Fix safety
    Unsafe: the non-reentrant implementation differs in corner cases (it keeps the graph of
    inputs that do not require grad, and handles RNG state and hooks differently), so results
    and memory use may change.

    ## References
    - [torch.utils.checkpoint](https://pytorch.org/docs/stable/checkpoint.html)
    - [TorchFix TOR003](https://github.com/meta-pytorch/torchfix#tor003)
    """

    code = "TL603"
    name = "checkpoint-reentrant"
    severity = Severity.WARNING
    fix = "unsafe"

    def check(self, ctx):
        for call in ctx.model.nodes_of(ast.Call):
            if ctx.model.call_qualname(call) != _CHECKPOINT:
                continue
            if any(k.arg in ("use_reentrant", None) for k in call.keywords):
                continue  # chosen, or maybe chosen in **kwargs
            edit = add_keyword(ctx.source, call, "use_reentrant=False")
            fix = Fix("Pass `use_reentrant=False`", (edit,), "unsafe") if edit else None
            msg = "`checkpoint` without `use_reentrant=` uses the reentrant implementation, which PyTorch warns about: pass `use_reentrant=False` (recommended)"
            yield ctx.finding(self, call.func, msg, fix)
