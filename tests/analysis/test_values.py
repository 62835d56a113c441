"""Questions the semantic model answers about values: is gradient recording on here (the
innermost switch decides), is this a tensor, which recurrent layers does a model build."""

from __future__ import annotations

import ast
import textwrap

import pytest

from torchlint.analysis.flow import FlowModel
from torchlint.checker import Checker

SOURCE = textwrap.dedent(
    """\
    import torch
    from torch import nn
    from torch.utils.data import DataLoader

    loader = DataLoader(ds, batch_size=4)
    custom = DataLoader(ds, batch_size=4, collate_fn=collate)


    class Enc(nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = nn.GRU(4, 4)


    class Seq(nn.Module):
        def __init__(self):
            super().__init__()
            self.enc = Enc()
            self.fc = nn.Linear(4, 4)


    class Flat(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 4)


    with torch.no_grad():
        off_1 = f()
        with torch.enable_grad():
            on_1 = f()
            with torch.inference_mode():
                off_2 = f()
        with torch.inference_mode(False):
            off_3 = f()
        with torch.set_grad_enabled(True):
            on_2 = f()
    with torch.set_grad_enabled(flag):
        on_3 = f()


    @torch.no_grad()
    def decorated():
        off_4 = f()
        with torch.enable_grad():
            on_4 = f()


    for i, (xb, yb) in enumerate(loader):
        xb = xb.to("cuda")
        t_1 = xb
        t_2 = yb
    for batch in loader:
        b_1, b_2 = batch
        u_1 = batch
        t_3 = b_1
    for cx, cy in custom:
        u_2 = cx
    w = torch.zeros(3)
    t_4 = w
    t_5 = (w * 2).float()
    t_6 = nn.MSELoss()(w, w)
    m = Flat()
    u_3 = m
    u_4 = helper(w)


    class Agent:
        def __init__(self):
            self.eval_net, self.target_net = Flat(), Flat()
            self.opaque, self.other = make()
            self.mixed = Flat()
            self.mixed, self.rest = make()

        def act(self):
            return self.eval_net, self.target_net, self.opaque, self.mixed
    """
)


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    path = tmp_path_factory.mktemp("values") / "m.py"
    return Checker(root=path.parent).workspace.model_for_text(str(path), SOURCE)


def _assigned(model, name: str) -> ast.Assign:
    return next(n for n in model.nodes_of(ast.Assign) if isinstance(n.targets[0], ast.Name) and n.targets[0].id == name)


@pytest.mark.parametrize("name", ["off_1", "off_2", "off_3", "off_4", "on_1", "on_2", "on_3", "on_4"])
def test_grad_mode_innermost_switch_decides(model, name):
    call = _assigned(model, name).value
    flow = FlowModel(model)
    assert flow.in_no_grad(call) is name.startswith("off")


@pytest.mark.parametrize("name", ["t_1", "t_2", "t_3", "t_4", "t_5", "t_6", "u_1", "u_2", "u_3", "u_4"])
def test_is_tensor(model, name):
    value = _assigned(model, name).value
    assert model.is_tensor(value) is name.startswith("t_")


@pytest.mark.parametrize("cls, expected", [("Seq", {"GRU"}), ("Enc", {"GRU"}), ("Flat", set())])
def test_built_layers(model, cls, expected):
    call = ast.parse(f"{cls}()").body[0].value
    assert model.built_layers(model.kind(call), frozenset({"RNN", "LSTM", "GRU"})) == expected


@pytest.mark.parametrize(
    "attr, module", [("eval_net", True), ("target_net", True), ("opaque", False), ("mixed", False)]
)
def test_attributes_unpacked_from_tuples(model, attr, module):
    """`self.a, self.b = Net(), Net()` pairs up; unpacked from a call, the kind is unknown
    (also for an attribute assigned a module elsewhere in the class)."""
    act = next(n for n in model.nodes_of(ast.FunctionDef) if n.name == "act")
    expr = next(e for e in act.body[0].value.elts if e.attr == attr)
    k = model.kind(expr)
    assert (k is not None and k.kind.value == "module") is module
