"""What we know about PyTorch's public names, canonicalised to their documented paths."""

from __future__ import annotations

import re
from enum import Enum


class Kind(str, Enum):
    MODULE = "module"
    OPTIMIZER = "optimizer"
    LOSS = "loss"
    DATALOADER = "dataloader"
    DATASET = "dataset"
    ITERABLE_DATASET = "iterable_dataset"
    SCALER = "scaler"
    SCHEDULER = "scheduler"


OPTIMIZERS = {
    "SGD",
    "Adam",
    "AdamW",
    "Adamax",
    "Adagrad",
    "Adadelta",
    "ASGD",
    "LBFGS",
    "NAdam",
    "RAdam",
    "RMSprop",
    "Rprop",
    "SparseAdam",
    "Adafactor",
    "Muon",
    "Optimizer",
}
# nn classes whose `__call__` is a loss (the "*Loss" classes, and the documented extras).
LOSS_CLASS = re.compile(r".*Loss$")
FUNCTIONAL_LOSSES = {
    "cross_entropy",
    "nll_loss",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "mse_loss",
    "l1_loss",
    "smooth_l1_loss",
    "huber_loss",
    "kl_div",
    "poisson_nll_loss",
    "gaussian_nll_loss",
    "margin_ranking_loss",
    "hinge_embedding_loss",
    "multilabel_margin_loss",
    "soft_margin_loss",
    "multilabel_soft_margin_loss",
    "cosine_embedding_loss",
    "multi_margin_loss",
    "triplet_margin_loss",
    "ctc_loss",
}
SCALERS = {"torch.cuda.amp.GradScaler", "torch.amp.GradScaler", "torch.cpu.amp.GradScaler"}
DATALOADERS = {"torch.utils.data.DataLoader"}
MODULE_BASES = {
    "torch.nn.Module",
    "lightning.pytorch.LightningModule",
    "pytorch_lightning.LightningModule",
    "lightning.LightningModule",
    "transformers.PreTrainedModel",
}
DATASET_BASES = {"torch.utils.data.Dataset", "torch.utils.data.TensorDataset"}
ITERABLE_DATASET_BASES = {"torch.utils.data.IterableDataset", "torch.utils.data.IterDataPipe"}

# Layers whose forward differs between `train()` and `eval()` (DESIGN: "does the mode matter?").
MODE_DEPENDENT_LAYERS = {
    "Dropout",
    "Dropout1d",
    "Dropout2d",
    "Dropout3d",
    "AlphaDropout",
    "FeatureAlphaDropout",
    "BatchNorm1d",
    "BatchNorm2d",
    "BatchNorm3d",
    "LazyBatchNorm1d",
    "LazyBatchNorm2d",
    "LazyBatchNorm3d",
    "SyncBatchNorm",
}
# Dependent unless built with `dropout=0` (their default is 0.1).
DROPOUT_BY_DEFAULT = {
    "Transformer",
    "TransformerEncoder",
    "TransformerDecoder",
    "TransformerEncoderLayer",
    "TransformerDecoderLayer",
}
# Dependent only when built with a non-zero `dropout` (their default is 0).
DROPOUT_IF_ASKED = {"RNN", "LSTM", "GRU", "MultiheadAttention"}
# Dependent only with `track_running_stats=True` (default False: the input's own statistics).
RUNNING_STATS_IF_ASKED = {
    "InstanceNorm1d",
    "InstanceNorm2d",
    "InstanceNorm3d",
    "LazyInstanceNorm1d",
    "LazyInstanceNorm2d",
    "LazyInstanceNorm3d",
}
MODE_DEPENDENT_FUNCTIONS = {
    "dropout",
    "dropout1d",
    "dropout2d",
    "dropout3d",
    "alpha_dropout",
    "feature_alpha_dropout",
    "batch_norm",
}
CONTAINERS = {"Sequential", "ModuleList", "ModuleDict"}
# Layers with a `bias` argument (default True), and its position in their constructors.
BIAS_POSITION = {
    "Linear": 2,
    "LazyLinear": 1,
    "Conv1d": 7,
    "Conv2d": 7,
    "Conv3d": 7,
    "ConvTranspose1d": 7,
    "ConvTranspose2d": 7,
    "ConvTranspose3d": 7,
    "LazyConv1d": 6,
    "LazyConv2d": 6,
    "LazyConv3d": 6,
    "LazyConvTranspose1d": 6,
    "LazyConvTranspose2d": 6,
    "LazyConvTranspose3d": 6,
}
# Normalisations that subtract a per-channel mean over the batch (a constant per-channel shift cancels).
BATCH_NORM_LAYERS = {
    "BatchNorm1d",
    "BatchNorm2d",
    "BatchNorm3d",
    "LazyBatchNorm1d",
    "LazyBatchNorm2d",
    "LazyBatchNorm3d",
    "SyncBatchNorm",
}

# Per-channel mean and std of the training images (after ToTensor), for the datasets whose statistics
# are known: MNIST (pytorch/examples mnist), CIFAR-10 (kuangliu/pytorch-cifar#19: the std over all
# pixels, not the mean of per-image stds), CIFAR-100 (weiaicunzai's gist, computed the same way),
# ImageNet (torchvision's pretrained models).
DATASET_STATS = {
    "MNIST": ("(0.1307,)", "(0.3081,)"),
    "FashionMNIST": ("(0.2860,)", "(0.3530,)"),
    "CIFAR10": ("(0.4914, 0.4822, 0.4465)", "(0.2470, 0.2435, 0.2616)"),
    "CIFAR100": ("(0.5071, 0.4865, 0.4409)", "(0.2673, 0.2564, 0.2762)"),
    "ImageNet": ("(0.485, 0.456, 0.406)", "(0.229, 0.224, 0.225)"),
}
# torchvision datasets built as `X(root, train=True, transform=None, ...)`.
TRAIN_FLAG_DATASETS = {"MNIST", "FashionMNIST", "KMNIST", "CIFAR10", "CIFAR100", "USPS"}
# Random generators an object can own: each DataLoader worker gets a copy in the same state
# (torch reseeds only the global `random`, `numpy.random` and its default generator per worker).
RNG_CONSTRUCTORS = {
    "numpy.random.default_rng",
    "numpy.random.RandomState",
    "numpy.random.Generator",
    "random.Random",
    "torch.Generator",
}
# Methods that return the module itself (`model.to(dev).train()`): a value keeps its kind through them.
MODULE_PASS_THROUGH_METHODS = {
    "to",
    "cuda",
    "cpu",
    "float",
    "double",
    "half",
    "bfloat16",
    "train",
    "eval",
    "requires_grad_",
    "share_memory",
}
# The subset that only moves a value (device, dtype): a loss stays a loss through them.
MOVE_METHODS = {"to", "cuda", "cpu", "float", "double", "half"}
# Tensor methods that keep what a tensor holds (probabilities stay probabilities, labels stay labels).
VALUE_KEEPING_METHODS = {
    "view",
    "reshape",
    "squeeze",
    "unsqueeze",
    "flatten",
    "contiguous",
    "float",
    "double",
    "half",
    "to",
    "cpu",
    "cuda",
    "permute",
    "transpose",
    "view_as",
    "reshape_as",
    "type",
    "clone",
    "detach",
}
# Tensor methods that return a tensor (a new one: the receiver is unchanged), and the subset that
# converts or moves it (`x.to(device)` as a statement does nothing: TL405).
CONVERT_METHODS = {
    "to",
    "cuda",
    "cpu",
    "float",
    "double",
    "half",
    "bfloat16",
    "long",
    "int",
    "short",
    "byte",
    "char",
    "bool",
    "pin_memory",
}
TENSOR_METHODS = (
    VALUE_KEEPING_METHODS
    | CONVERT_METHODS
    | {
        "sum",
        "mean",
        "abs",
        "exp",
        "log",
        "sqrt",
        "pow",
        "mul",
        "add",
        "sub",
        "div",
        "matmul",
        "t",
        "expand",
        "repeat",
        "expand_as",
        "masked_fill",
        "gather",
        "index_select",
        "softmax",
        "log_softmax",
        "sigmoid",
        "tanh",
        "relu",
        "clamp",
        "norm",
        "argmax",
        "argmin",
        "narrow",
    }
)
# torch functions that return one tensor (factories, conversions, element-wise and reducing math).
TENSOR_FUNCTIONS = {
    f"torch.{n}"
    for n in (
        "tensor",
        "as_tensor",
        "from_numpy",
        "zeros",
        "ones",
        "empty",
        "full",
        "rand",
        "randn",
        "randint",
        "randperm",
        "arange",
        "linspace",
        "logspace",
        "eye",
        "zeros_like",
        "ones_like",
        "empty_like",
        "full_like",
        "rand_like",
        "randn_like",
        "randint_like",
        "stack",
        "cat",
        "concat",
        "concatenate",
        "hstack",
        "vstack",
        "Tensor",
        "FloatTensor",
        "LongTensor",
        "DoubleTensor",
        "IntTensor",
        "BoolTensor",
        "ByteTensor",
        "HalfTensor",
        "matmul",
        "mm",
        "bmm",
        "exp",
        "log",
        "sqrt",
        "abs",
        "sigmoid",
        "tanh",
        "softmax",
        "log_softmax",
        "sum",
        "mean",
        "where",
        "clamp",
        "flatten",
        "reshape",
        "transpose",
        "permute",
        "squeeze",
        "unsqueeze",
        "normal",
        "bernoulli",
        "multinomial",
        "tril",
        "triu",
        "einsum",
    )
}

# Activations whose output is probabilities (or log-probabilities): function, module, tensor method.
ACTIVATION_FUNCTIONS = {
    "torch.nn.functional.softmax": "softmax",
    "torch.softmax": "softmax",
    "torch.special.softmax": "softmax",
    "torch.nn.functional.log_softmax": "log_softmax",
    "torch.log_softmax": "log_softmax",
    "torch.special.log_softmax": "log_softmax",
    "torch.sigmoid": "sigmoid",
    "torch.nn.functional.sigmoid": "sigmoid",
    "torch.special.expit": "sigmoid",
}
ACTIVATION_MODULES = {
    "torch.nn.Softmax": "softmax",
    "torch.nn.LogSoftmax": "log_softmax",
    "torch.nn.Sigmoid": "sigmoid",
}
ACTIVATION_METHODS = {"softmax", "log_softmax", "sigmoid"}
# nn.Module methods whose names look like a model's (`add_module`): calling them is no forward.
MODULE_METHOD_NAMES = {
    "add_module",
    "register_module",
    "get_submodule",
    "named_modules",
    "modules",
    "children",
    "named_children",
    "apply",
    "set_submodule",
}
# Calls that wrap an iterable of batches and yield them again (`enumerate(loader)`, `tqdm(loader)`):
# the loop iterates their first argument.
LOADER_WRAPPERS = {"enumerate", "tqdm", "iter", "progress_bar", "track", "zip"}
# Libraries whose public classes we know by name: Jedi is never asked about them.
NAMED_LIBRARIES = {
    "torch",
    "torchvision",
    "torchaudio",
    "torchtext",
    "lightning",
    "pytorch_lightning",
    "numpy",
    "builtins",
    "typing",
    "dataclasses",
    "abc",
    "enum",
}
# Libraries whose functions never hide a user's training step, forward or mode switch.
STEPLESS_LIBRARIES = {
    "torch",
    "torchvision",
    "numpy",
    "os",
    "sys",
    "math",
    "time",
    "argparse",
    "random",
    "json",
    "typing",
    "collections",
    "itertools",
    "functools",
    "pathlib",
    "logging",
    "dataclasses",
    "tqdm",
    "matplotlib",
    "PIL",
}

_OPTIM_SUBMODULES = {
    "sgd",
    "adam",
    "adamw",
    "adamax",
    "adagrad",
    "adadelta",
    "asgd",
    "lbfgs",
    "nadam",
    "radam",
    "rmsprop",
    "rprop",
    "sparse_adam",
    "optimizer",
    "adafactor",
    "_muon",
}


def canonical(qualname: str) -> str:
    """Map implementation paths to the documented ones (torch.nn.modules.loss.X -> torch.nn.X)."""
    parts = qualname.split(".")
    if qualname.startswith("torch.nn.modules.") and len(parts) >= 5:
        return "torch.nn." + parts[-1]
    if (
        qualname.startswith("torch.utils.data.")
        and len(parts) >= 5
        and parts[3]
        in (
            "dataloader",
            "dataset",
            "sampler",
            "distributed",
        )
    ):
        return "torch.utils.data." + parts[-1]
    if qualname.startswith("torch.optim.") and len(parts) == 4 and parts[2] in _OPTIM_SUBMODULES:
        return "torch.optim." + parts[-1]
    if qualname.startswith(("torch.amp.grad_scaler.", "torch.cuda.amp.grad_scaler.")):
        return "torch.amp." + parts[-1]
    if qualname.startswith("torch.nn.functional"):
        return "torch.nn.functional." + parts[-1]
    if qualname.startswith(("pytorch_lightning.core.", "lightning.pytorch.core.")):
        return parts[0] + ("" if parts[0] == "pytorch_lightning" else ".pytorch") + "." + parts[-1]
    return qualname


def constructor_kind(qualname: str) -> Kind | None:
    """The kind of object a call to `qualname` returns, for known library callables."""
    q = canonical(qualname)
    last = q.rsplit(".", 1)[-1]
    if q in SCALERS or (last == "GradScaler"):
        return Kind.SCALER
    if q in DATALOADERS or last == "DataLoader" and q.startswith("torch."):
        return Kind.DATALOADER
    if q.startswith("torch.optim.lr_scheduler.") or re.match(r"transformers\..*get_\w*schedule", q):
        return Kind.SCHEDULER
    if q.startswith("torch.optim.") and last in OPTIMIZERS:
        return Kind.OPTIMIZER
    if last in OPTIMIZERS and last not in ("Optimizer",) and not q.startswith("torch."):
        return Kind.OPTIMIZER  # transformers.AdamW, apex FusedAdam-like names are matched by class name
    if q.startswith("torch.nn.") and not q.startswith(("torch.nn.functional", "torch.nn.utils", "torch.nn.init")):
        if LOSS_CLASS.match(last):
            return Kind.LOSS
        if last[:1].isupper() and last not in ("Parameter", "Buffer"):
            return Kind.MODULE
    if q in ("torch.compile",):
        return None  # decided by its argument (see SemanticModel.kind)
    if q.startswith("torchvision.models.") and not last.startswith("get_") and not last.endswith("_Weights"):
        return Kind.MODULE
    if q == "timm.create_model":
        return Kind.MODULE
    if q.startswith("torch.utils.data.") and last in ("TensorDataset", "ConcatDataset", "Subset", "StackDataset"):
        return Kind.DATASET
    if q.startswith("torchvision.datasets.") and last[:1].isupper():
        return Kind.DATASET
    return None


def is_functional_loss(qualname: str) -> str | None:
    q = canonical(qualname)
    last = q.rsplit(".", 1)[-1]
    if (q.startswith("torch.nn.functional.") or q == f"torch.{last}") and last in FUNCTIONAL_LOSSES:
        return last
    return None


def loss_name(qualname: str) -> str | None:
    """`CrossEntropyLoss` for the class, `cross_entropy` for the function, else None."""
    q = canonical(qualname)
    last = q.rsplit(".", 1)[-1]
    if q.startswith("torch.nn.") and LOSS_CLASS.match(last):
        return last
    return is_functional_loss(q)


# Names people give these objects: a fallback used only where a rule documents it.
NAME_HINTS: dict[Kind, re.Pattern[str]] = {
    Kind.OPTIMIZER: re.compile(r"^(\w+_)?(opt|optim|optimizer|optimiser)(_\w+|\d+)?$", re.IGNORECASE),
    Kind.MODULE: re.compile(
        r"^(\w+_)?(model|net|network|module|classifier|encoder|decoder|generator|discriminator)(_\w+|\d+)?$|^net[A-Z]\w*$|^(model|net)[A-Z]\w*$",
        re.IGNORECASE,
    ),
    Kind.SCHEDULER: re.compile(r"^(\w+_)?(sched|scheduler|lr_scheduler|lr_sched)(_\w+|\d+)?$", re.IGNORECASE),
    Kind.SCALER: re.compile(r"^(\w+_)?(scaler|grad_scaler)$", re.IGNORECASE),
    Kind.DATALOADER: re.compile(r"^(\w+_)?(loader|dataloader|data_loader|dl)(_\w+)?$|^\w*loader$", re.IGNORECASE),
}


def name_hint(name: str | None) -> Kind | None:
    if not name:
        return None
    for kind, pattern in NAME_HINTS.items():
        if pattern.match(name):
            return kind
    return None
