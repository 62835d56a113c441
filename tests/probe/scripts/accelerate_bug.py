"""accelerate with the zero_grad() forgotten: gradients accumulate across steps (TLR07)."""
import torch
from accelerate import Accelerator
from torch import nn
from _common import classification_loader

torch.manual_seed(0)
accelerator = Accelerator(cpu=True)
model = nn.Sequential(nn.Linear(20, 64), nn.ReLU(), nn.Linear(64, 5))
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
model, optimizer, loader = accelerator.prepare(model, optimizer, classification_loader())
for epoch in range(100):
    for xb, yb in loader:
        loss = nn.functional.cross_entropy(model(xb), yb)
        accelerator.backward(loss)
        optimizer.step()
