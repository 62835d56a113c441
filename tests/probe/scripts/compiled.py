"""torch.compile'd model. aot_eager traces with dynamo + AOTAutograd (the parts that meet the
probe's hooks) without inductor's C++ build, which takes about a minute on 2 CPU cores;
TORCHLINT_COMPILE_BACKEND=inductor runs the full thing."""
import os

import torch
from torch import nn
from _common import classification_loader

torch.manual_seed(0)
model = nn.Sequential(nn.Linear(20, 64), nn.ReLU(), nn.Linear(64, 5))
opt = torch.optim.Adam(model.parameters(), lr=1e-2)
cmodel = torch.compile(model, backend=os.environ.get("TORCHLINT_COMPILE_BACKEND", "aot_eager"))
loader = classification_loader()
for epoch in range(100):
    for xb, yb in loader:
        opt.zero_grad()
        loss = nn.functional.cross_entropy(cmodel(xb), yb)
        loss.backward()
        opt.step()
