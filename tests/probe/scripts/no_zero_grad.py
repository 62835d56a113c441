"""optimizer.zero_grad() is missing: gradients accumulate across steps (TLR07)."""
import torch
from torch import nn
from _common import classification_loader

torch.manual_seed(0)
model = nn.Sequential(nn.Linear(20, 64), nn.ReLU(), nn.Linear(64, 5))
opt = torch.optim.SGD(model.parameters(), lr=1e-2)
criterion = nn.CrossEntropyLoss()
loader = classification_loader()
for epoch in range(100):
    for xb, yb in loader:
        loss = criterion(model(xb), yb)
        loss.backward()
        opt.step()
