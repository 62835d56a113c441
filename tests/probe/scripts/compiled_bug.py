"""torch.compile'd model that mixes the batch with a reshape (TLR10 at the class, not at
torch.compile or super().__init__())."""
import os

import torch
from torch import nn
from _common import classification_loader

torch.manual_seed(0)


class Mixer(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(20, 5)

    def forward(self, x):
        return self.fc(x.reshape(20, -1).t())


model = Mixer()
opt = torch.optim.Adam(model.parameters(), lr=1e-2)
cmodel = torch.compile(model, backend=os.environ.get("TORCHLINT_COMPILE_BACKEND", "aot_eager"))
loader = classification_loader()
for epoch in range(100):
    for xb, yb in loader:
        opt.zero_grad()
        nn.functional.cross_entropy(cmodel(xb), yb).backward()
        opt.step()
