"""The events of a training step: what a statement does to a model, an optimizer or their
gradients (a backward pass, a step, a mode switch, a forward...), directly or through the
functions it calls. `flow.FlowModel` reads them off statements; CFG nodes carry them."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from enum import Enum

from .resolve import FunctionRef, SemanticModel


class Ev(str, Enum):
    BACKWARD = "backward"
    STEP = "step"  # optimizer step (or scaler.step(opt))
    ZERO_GRAD = "zero_grad"
    CLIP = "clip"
    UNSCALE = "unscale"
    SCHED_STEP = "scheduler_step"
    TRAIN = "train"  # model.train()
    EVAL = "eval"  # model.eval() / model.train(False)
    MODE_UNKNOWN = "mode_unknown"  # model.train(flag), or an opaque call that receives the model
    FORWARD = "forward"  # model(x), model.forward(x)
    NEW_MODEL = "new_model"  # a module is (re)built here
    ALIAS = "alias"  # `net = g`: `net` names the same module as `g` (in `g`'s mode); `call` is the statement


@dataclass
class Event:
    kind: Ev
    call: ast.AST  # the call in *this* function that performs it (for a callee: the call site)
    target: str | None = None  # receiver text: the model, the optimizer
    via: FunctionRef | None = None  # set when the event happens inside a called function
    origin: ast.AST | None = None  # the node inside the callee
    origin_model: SemanticModel | None = None
    no_grad: bool = False  # performed under torch.no_grad()/inference_mode()

    @property
    def direct(self) -> bool:
        return self.via is None
