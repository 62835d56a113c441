from __future__ import annotations

import ast
from dataclasses import dataclass

from ..analysis.findings import Edit, Fix, Severity
from ..analysis.resolve import dotted
from ..analysis.torchapi import DATASET_STATS, TRAIN_FLAG_DATASETS, Kind, constructor_kind
from . import register
from ._helpers import kind_of, loss_calls, reaching_binding
from .base import Rule

_CLASSIFIER_LOSSES = {"CrossEntropyLoss", "cross_entropy", "NLLLoss", "nll_loss"}
_FOLDERS = {"ImageFolder", "DatasetFolder"}  # X(root, transform=None, ...)


@dataclass
class _Pipeline:
    node: ast.Call  # the Compose(...) call, or a bare ToTensor() used as the transform
    to_tensor: ast.Call
    elements: list[ast.Call]


def _dataset_class(model, call: ast.Call) -> str | None:
    q = model.call_qualname(call)
    if q and q.startswith("torchvision.datasets.") and constructor_kind(q) == Kind.DATASET:
        return q.rsplit(".", 1)[-1]
    return None


def _arg(call: ast.Call, name: str, pos: int | None) -> tuple[bool, ast.AST | None]:
    """(known, value): the argument passed for a parameter; known=False when **kwargs may hold it."""
    for k in call.keywords:
        if k.arg == name:
            return True, k.value
        if k.arg is None:
            return False, None
    if pos is not None and any(isinstance(a, ast.Starred) for a in call.args[: pos + 1]):
        return False, None
    if pos is not None and len(call.args) > pos:
        return True, call.args[pos]
    return True, None


def _transform_pos(cls: str) -> int | None:
    return 2 if cls in TRAIN_FLAG_DATASETS else 1 if cls in _FOLDERS else None


def _pipeline(model, expr: ast.AST | None) -> _Pipeline | None:
    """The torchvision pipeline `expr` is: every step a torchvision transform, so none of them
    can normalise in a way we do not see."""
    if isinstance(expr, ast.Name):
        b = reaching_binding(model, expr)
        expr = b.value if b is not None else None
    if not isinstance(expr, ast.Call):
        return None
    q = model.call_qualname(expr) or ""
    if q.endswith(".ToTensor") and q.startswith("torchvision.transforms"):
        return _Pipeline(expr, expr, [expr])
    if not (q.startswith("torchvision.transforms") and q.endswith(".Compose")) or len(expr.args) != 1 or expr.keywords:
        return None
    seq = expr.args[0]
    if not isinstance(seq, (ast.List, ast.Tuple)):
        return None
    steps: list[ast.Call] = []
    for e in seq.elts:
        sq = model.call_qualname(e) if isinstance(e, ast.Call) else None
        if sq is None or not sq.startswith("torchvision.transforms.") or not isinstance(e, ast.Call):
            return None  # a custom step (or a Starred list) may normalise
        steps.append(e)
    names = [(model.call_qualname(s) or "").rsplit(".", 1)[-1] for s in steps]
    if "ToTensor" not in names or {"Normalize", "Lambda"} & set(names):
        return None
    return _Pipeline(expr, steps[names.index("ToTensor")], steps)


_GRAYSCALE = {"MNIST", "FashionMNIST", "KMNIST", "EMNIST", "QMNIST", "USPS", "Omniglot"}
_RAW_ATTRS = {"data", "train_data", "test_data"}


def _pretrained_model(model) -> str | None:
    """A torchvision model built with pretrained weights (`vgg16(pretrained=True)`,
    `resnet18(weights=...)`), as written."""
    for call in model.nodes_of(ast.Call):
        q = model.call_qualname(call) or ""
        if not q.startswith("torchvision.models."):
            continue
        for k in call.keywords:
            if (k.arg == "pretrained" and isinstance(k.value, ast.Constant) and k.value.value is True) or (
                k.arg == "weights" and not (isinstance(k.value, ast.Constant) and k.value.value is None)
            ):
                return dotted(call.func) or q
    return None


def _raw_read(model, cls: str) -> str | None:
    """`test_data.test_data / 255.`: images of a test dataset of this class read as a tensor,
    past every transform (the tutorial way to build a test batch), as written."""
    for node in model.nodes_of(ast.Attribute):
        if node.attr not in _RAW_ATTRS or not isinstance(node.ctx, ast.Load):
            continue
        value = node.value
        if isinstance(value, ast.Name):
            b = reaching_binding(model, value)
            value = b.value if b is not None else None
        if isinstance(value, ast.Call) and _dataset_class(model, value) == cls and not _is_training(model, value, cls):
            return dotted(node) or node.attr  # a test set's images (a training set's are plotted)
    return None


def _is_training(model, call: ast.Call, cls: str) -> bool:
    if cls in TRAIN_FLAG_DATASETS:
        known, train = _arg(call, "train", 1)
        return known and (train is None or (isinstance(train, ast.Constant) and train.value is True))
    known, split = _arg(call, "split", 1 if cls == "ImageNet" else None)
    if known and isinstance(split, ast.Constant) and split.value == "train":
        return True
    if cls == "ImageNet":
        return known and split is None  # split defaults to "train"
    return _shuffled_loader(model, call)


def _shuffled_loader(model, ds: ast.Call) -> bool:
    """The dataset (inline or through one name) feeds a `DataLoader(..., shuffle=True)`."""
    stmt = model.parent(ds)
    name = (
        stmt.targets[0].id
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name)
        else None
    )
    for loader in model.calls_named("DataLoader"):
        info = kind_of(model, loader)
        if info is None or info.kind != Kind.DATALOADER:
            continue
        _, data = _arg(loader, "dataset", 0)
        _, shuffle = _arg(loader, "shuffle", 2)
        if not (isinstance(shuffle, ast.Constant) and shuffle.value is True):
            continue
        if data is ds:
            return True
        if name and isinstance(data, ast.Name) and data.id == name:
            b = reaching_binding(model, data)
            if b is not None and b.stmt is stmt:
                return True
    return False


@register
class InputsNotNormalized(Rule):
    """## What it does
    Checks for torchvision transform pipelines of training images that convert with
    `ToTensor` but never `Normalize`: a `transforms.Compose([...])` (or a bare
    `transforms.ToTensor()`) passed as `transform=` to a torchvision training dataset
    (`MNIST(..., train=True)`, `CIFAR10`, `ImageNet(split="train")`, or an `ImageFolder`
    whose `DataLoader` shuffles), in a file that trains a classifier on them (its losses
    are all cross-entropy or NLL).

    ## Why is this bad?
    `ToTensor` only scales pixels to `[0, 1]`: every input feature is positive with a mean
    near 0.1-0.5 and a small spread. Such inputs slow down and destabilise training of the
    first layers (their gradients all share a sign), and a pretrained network expects inputs
    standardised with the statistics it was trained on. `Normalize(mean, std)` with the
    dataset's per-channel statistics makes inputs zero-mean and unit-variance. When the file
    builds a torchvision model with pretrained weights (`vgg16(pretrained=True)`,
    `resnet18(weights=...)`), the statistics to use are those it was trained with, ImageNet's,
    whatever the dataset (colour datasets only).

    Pipelines with a custom step or a `transforms.Lambda` (which may rescale), and files with
    other losses (autoencoders and GANs, whose images are also targets that a `sigmoid` output
    must match in `[0, 1]`) are not reported.

    ## Example
    ```python
    train_set = datasets.MNIST("data", train=True, download=True, transform=transforms.ToTensor())
    ```

    ## Use instead
    ```python
    transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))])
    train_set = datasets.MNIST("data", train=True, download=True, transform=transform)
    ```

    ## Fix safety
    Safe when the dataset's statistics are known (MNIST, FashionMNIST, CIFAR-10, CIFAR-100,
    ImageNet): the fix adds `Normalize` with them to every pipeline of that dataset in the
    file (training and test alike, so evaluation sees the same inputs). Code elsewhere that
    feeds the trained model (an inference script) must normalise the same way. No fix for
    other datasets (their statistics are unknown), when a step is imported by name
    (`from torchvision.transforms import ToTensor`), which would need a new import, or when the
    file reads the images past the transforms (`test_data.test_data / 255.`, the tutorial way
    to build a test batch): evaluation would then see inputs unlike training's, and the
    message says to normalise them too.

    ## References
    - [torchvision.transforms.Normalize](https://pytorch.org/vision/stable/generated/torchvision.transforms.Normalize.html)
    - [torchvision models: the ImageNet normalisation](https://pytorch.org/vision/stable/models.html)
    - [CIFAR-10 statistics (kuangliu/pytorch-cifar#19)](https://github.com/kuangliu/pytorch-cifar/issues/19)
    """

    code = "TL502"
    name = "inputs-not-normalized"
    severity = Severity.INFORMATION
    fix = "safe"
    whole_file = True  # judges the file by every loss it computes

    def check(self, ctx):
        model = ctx.model
        if "ToTensor" not in ctx.source.text:
            return  # no pipeline to judge (a cheap test first: the rule runs on every edit)
        losses = {lc.name for lc in loss_calls(model)}
        if not losses or not losses <= _CLASSIFIER_LOSSES:
            return  # no classifier here, or images that are also targets (GANs, autoencoders)
        uses: list[tuple[ast.Call, str, _Pipeline | None, bool]] = []  # (dataset, class, pipeline, training)
        for call in model.nodes_of(ast.Call):
            cls = _dataset_class(model, call)
            if cls is None:
                continue
            known, t = _arg(call, "transform", _transform_pos(cls))
            if not known or t is None:
                continue
            uses.append((call, cls, _pipeline(model, t), _is_training(model, call, cls)))
        reported: set[int] = set()
        pretrained = _pretrained_model(model)
        for ds, cls, pipe, training in uses:
            if pipe is None or not training or id(pipe.node) in reported:
                continue
            reported.add(id(pipe.node))
            if pretrained is not None and cls not in _GRAYSCALE:
                # a pretrained network expects the inputs it was trained on
                stats, source = DATASET_STATS["ImageNet"], "ImageNet"
                whose = f"the statistics `{pretrained}` was pretrained with, ImageNet's"
            else:
                stats, source = DATASET_STATS.get(cls), cls
                whose = f"{cls}'s statistics" if stats else "the dataset's per-channel statistics"
            shown = dotted(ds.func) or cls
            norm = f"Normalize({stats[0]}, {stats[1]})" if stats else "Normalize(mean, std)"
            msg = f"training images of `{shown}` are converted with `ToTensor` but never normalised: add `{norm}` ({whose})"
            raw = _raw_read(model, cls)
            if raw is not None:
                msg += f"; `{raw}` reads images past the transform: normalise them the same way"
            fix = None
            if stats and raw is None:
                fix = self._fix(ctx, source, stats, [u for u in uses if u[1] == cls])
            yield ctx.finding(self, pipe.to_tensor, msg, fix, [ctx.related(model, ds, "the training dataset")])

    @staticmethod
    def _fix(ctx, cls, stats, same_class) -> Fix | None:
        """Normalize in every pipeline of this dataset class in the file, or no fix."""
        edits: dict[int, Edit] = {}
        for _, _, pipe, _ in same_class:
            if pipe is None:
                return None  # a pipeline we cannot read (or one that already normalises)
            func = pipe.to_tensor.func
            if not isinstance(func, ast.Attribute):
                return None  # `ToTensor` imported by name: `Normalize` would need an import
            prefix = ast.unparse(func.value)
            norm = f"{prefix}.Normalize({stats[0]}, {stats[1]})"
            src = ctx.source
            if pipe.node is pipe.to_tensor:
                edits[id(pipe.node)] = Edit(
                    src.span(pipe.node), f"{prefix}.Compose([{src.segment(pipe.node)}, {norm}])"
                )
            else:
                end = src.span(pipe.to_tensor).end
                edits[id(pipe.node)] = Edit(type(src.span(pipe.node))(end, end), f", {norm}")
        return Fix(f"Add `Normalize` with {cls}'s mean and std", tuple(edits.values()), "safe")
