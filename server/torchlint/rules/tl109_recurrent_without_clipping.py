from __future__ import annotations

import ast

from ..analysis import edits
from ..analysis.events import Ev
from ..analysis.findings import Fix, Position, Severity
from ..analysis.resolve import dotted, subtree
from . import register
from .base import Rule

_RECURRENT = frozenset({"RNN", "LSTM", "GRU"})


@register
class RecurrentWithoutClipping(Rule):
    """## What it does
    Checks for training loops that train a model holding an `nn.RNN`, `nn.LSTM` or
    `nn.GRU` and never clip its gradients.

    ## Why is this bad?
    Back-propagation through time multiplies by the recurrent weights once per time step:
    gradients of recurrent networks explode now and then, and one such step can throw the
    weights far off (a loss that suddenly jumps to NaN). Clipping the gradient norm between
    `backward()` and `optimizer.step()` is the standard guard (Pascanu et al., 2013), used
    by PyTorch's own word-language-model example.

    Only models known to build a recurrent layer are reported; a loop that clips in any way
    (`clip_grad_norm_`, `clip_grad_value_`, clamping `.grad`, gradient hooks) is not.

    ## Example
    ```python
    for x, y in loader:
        optimizer.zero_grad()
        out, _ = model(x)  # model holds an nn.LSTM
        criterion(out, y).backward()
        optimizer.step()
    ```

    ## Use instead
    ```python
    for x, y in loader:
        optimizer.zero_grad()
        out, _ = model(x)
        criterion(out, y).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
        optimizer.step()
    ```

    ## Fix safety
    Unsafe: inserts `torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)`
    before the optimizer step; the right `max_norm` depends on the model and changes how it
    trains.

    ## References
    - [torch.nn.utils.clip_grad_norm_](https://pytorch.org/docs/stable/generated/torch.nn.utils.clip_grad_norm_.html)
    - [word_language_model example](https://github.com/pytorch/examples/blob/main/word_language_model/main.py)
    - [On the difficulty of training recurrent neural networks](https://arxiv.org/abs/1211.5063)
    """

    code = "TL109"
    name = "recurrent-without-clipping"
    severity = Severity.INFORMATION
    fix = "unsafe"

    def check(self, ctx):
        flow = ctx.flow
        if "register_hook" in ctx.source.text:
            return  # gradients may be clipped by hooks on the parameters
        for loop in flow.training_loops():
            cfg = loop.cfg
            if loop.has(Ev.CLIP) or _clips_by_hand(cfg.scope):
                continue
            models: dict[str, tuple[str, object]] = {}  # target -> (layer, forward event)
            for _, e in loop.events(Ev.FORWARD):
                if not e.target or e.target in models:
                    continue
                layers = _recurrent_layers(ctx, e)
                if layers:
                    models[e.target] = (min(layers), e)
            if not models:
                continue
            steps = loop.events(Ev.STEP)
            if not steps:
                continue
            s_node, s_event = steps[0]
            names = ", ".join(f"`{t}`" for t in models)
            held = ", ".join(f"`nn.{n}`" for n in sorted({layer for layer, _ in models.values()}))
            one = len(models) == 1
            yield ctx.finding(
                self,
                s_event.call,
                f"{names} {'has a recurrent layer' if one else 'have recurrent layers'} ({held}) and "
                f"{'is' if one else 'are'} trained without gradient clipping: recurrent gradients can explode",
                fix=self._fix(ctx, loop, s_node, s_event, models),
                related=[ctx.related(ctx.model, e.call, f"`{t}` runs here") for t, (_, e) in models.items()],
            )

    @staticmethod
    def _fix(ctx, loop, s_node, s_event, models) -> Fix | None:
        if ctx.model.imports.get("torch") != "torch" or not s_event.direct or not isinstance(s_node.stmt, ast.Expr):
            return None
        if any(not e.direct or dotted(_model_expr(e)) != t for t, (_, e) in models.items()):
            return None  # a model named only inside a helper: no name for it here
        it = loop.cfg.iteration(s_node)
        if s_node.id not in it.reached_from("backward", ("step",)):
            return None
        if not edits.stands_alone(ctx.source, s_node.stmt):
            return None
        nl = edits.newline(ctx.source)
        indent = ctx.source.line_indent(s_node.stmt.lineno - 1)
        text = "".join(f"{indent}torch.nn.utils.clip_grad_norm_({t}.parameters(), max_norm=1.0){nl}" for t in models)
        insert = edits.insert_at(Position(s_node.stmt.lineno - 1, 0), text)
        return Fix("Clip the gradient norm before the optimizer step (max_norm=1.0)", (insert,), "unsafe")


def _model_expr(e) -> ast.AST | None:
    call = e.call
    if not isinstance(call, ast.Call):
        return None
    func = call.func
    if isinstance(func, ast.Attribute) and func.attr == "forward":
        return func.value
    return func


def _recurrent_layers(ctx, e) -> frozenset[str]:
    if e.direct:
        model, expr = ctx.model, _model_expr(e)
    else:
        model = e.origin_model
        origin = e.origin
        expr = None
        if isinstance(origin, ast.Call):
            expr = (
                origin.func.value
                if isinstance(origin.func, ast.Attribute) and origin.func.attr == "forward"
                else origin.func
            )
    if model is None or expr is None:
        return frozenset()
    return model.built_layers(model.kind(expr), _RECURRENT)


def _clips_by_hand(scope: ast.AST) -> bool:
    """`p.grad.data.clamp_(-5, 5)` and the like, or a helper named for clipping."""
    for n in subtree(scope):
        if isinstance(n, ast.Call):
            name = (n.func.attr if isinstance(n.func, ast.Attribute) else getattr(n.func, "id", "")) or ""
            if "clip" in name.lower() or (name in ("clamp_", "clamp", "clip_") and "grad" in ast.unparse(n.func)):
                return True
    return False
