"""A projection built inside forward(): a new, untrained layer at every call (TLR04 at that line)."""
import torch
from torch import nn
from _common import classification_loader

torch.manual_seed(0)


class Head(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Linear(20, 32)

    def forward(self, x):
        h = torch.relu(self.body(x))
        return nn.Linear(32, 5)(h)


model = Head()
opt = torch.optim.Adam(model.parameters(), lr=1e-2)
loader = classification_loader()
for epoch in range(100):
    for xb, yb in loader:
        opt.zero_grad()
        nn.functional.cross_entropy(model(xb), yb).backward()
        opt.step()
