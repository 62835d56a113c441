"""A reshape where a transpose was meant: each output row mixes several samples (TLR10)."""
import torch
from torch import nn

from _common import classification_loader

torch.manual_seed(0)
loader = classification_loader()


class Mixer(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(20, 5)

    def forward(self, x):
        # meant: features stay per sample; reshape(20, -1).t() interleaves the batch
        return self.fc(x.reshape(20, -1).t())


model = Mixer()
opt = torch.optim.Adam(model.parameters(), lr=1e-2)
criterion = nn.CrossEntropyLoss()
for epoch in range(100):
    for xb, yb in loader:
        opt.zero_grad()
        criterion(model(xb), yb).backward()
        opt.step()
