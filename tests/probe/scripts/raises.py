"""Raises inside forward on the third step: ERROR pointing at the raise."""
import torch
from torch import nn
from _common import classification_loader

calls = 0


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(20, 5)

    def forward(self, x):
        global calls
        calls += 1
        if calls == 3:
            raise ValueError("shape mismatch in my model")
        return self.fc(x)


model = Net()
opt = torch.optim.SGD(model.parameters(), lr=0.1)
loader = classification_loader()
for xb, yb in loader:
    opt.zero_grad()
    loss = nn.functional.cross_entropy(model(xb), yb)
    loss.backward()
    opt.step()
