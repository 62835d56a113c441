"""Does the mode matter? A module class is mode-dependent when it holds Dropout/BatchNorm-like
layers (or reads `self.training`), mode-free when every layer it holds is known and none is,
and unknown otherwise (library models, submodules passed in)."""

from __future__ import annotations

import textwrap

import pytest

from torchlint.checker import Checker

SOURCE = textwrap.dedent(
    """\
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    import torchvision


    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.l = nn.Linear(2, 2)
            self.n = nn.LayerNorm(2)


    class Plain(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(10, 2)
            self.body = nn.Sequential(nn.Linear(2, 2), nn.ReLU())
            self.blocks = nn.ModuleList([Block() for _ in range(3)])
            self.rnn = nn.LSTM(3, 3, 2)
            self.norm = nn.InstanceNorm2d(3)
            self.attn = nn.MultiheadAttention(8, 2)


    class NoDropTransformer(nn.Module):
        def __init__(self):
            super().__init__()
            self.t = nn.TransformerEncoderLayer(8, 2, dropout=0.0)


    class Drop(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.5))


    class DeepDrop(nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = Drop()


    class Sub(Drop):
        pass


    class FDrop(nn.Module):
        def forward(self, x):
            return F.dropout(x, 0.5, self.training)


    class FDropOff(nn.Module):
        def forward(self, x):
            return F.dropout(x, 0.5, training=False)


    class Flag(nn.Module):
        def forward(self, x):
            return x * 2 if self.training else x


    class Stats(nn.Module):
        def __init__(self):
            super().__init__()
            self.n = nn.InstanceNorm2d(3, track_running_stats=True)


    class Transformer(nn.Module):
        def __init__(self):
            super().__init__()
            self.t = nn.TransformerEncoderLayer(8, 2)


    class RnnDrop(nn.Module):
        def __init__(self, p):
            super().__init__()
            self.r = nn.GRU(3, 3, 2, dropout=p)


    class OneLayerGru(nn.Module):
        def __init__(self):
            super().__init__()
            self.r = nn.GRU(3, 3, dropout=0.1)


    class TwoLayerLstm(nn.Module):
        def __init__(self):
            super().__init__()
            self.r = nn.LSTM(3, 3, 2, dropout=0.1)


    class SomeLayersGru(nn.Module):
        def __init__(self, n):
            super().__init__()
            self.r = nn.GRU(3, 3, num_layers=n, dropout=0.1)


    class Wrapped(nn.Module):
        def __init__(self, enc):
            super().__init__()
            self.enc = enc

        def forward(self, x):
            return self.enc(x)


    class Library(nn.Module):
        def __init__(self):
            super().__init__()
            self.b = torchvision.models.resnet18()
    """
)


@pytest.mark.parametrize(
    "name, expected",
    [
        ("Block", False),
        ("Plain", False),
        ("NoDropTransformer", False),
        ("FDropOff", False),
        ("Drop", True),
        ("DeepDrop", True),
        ("Sub", True),
        ("FDrop", True),
        ("Flag", True),
        ("Stats", True),
        ("Transformer", True),
        ("RnnDrop", True),
        ("TwoLayerLstm", True),
        ("OneLayerGru", False),
        ("SomeLayersGru", None),
        ("Wrapped", None),
        ("Library", None),
    ],
)
def test_mode_dependence_of_classes(tmp_path, name, expected):
    path = tmp_path / "m.py"
    model = Checker(root=tmp_path).workspace.model_for_text(str(path), SOURCE)
    import ast

    call = ast.parse(f"{name}()").body[0].value
    info = model.kind(call)
    assert info is not None and info.cls is not None
    assert model.mode_dependence(info) is expected
