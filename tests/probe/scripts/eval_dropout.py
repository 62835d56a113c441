"""model.eval() leaks into training: Dropout is off during the training steps (TLR06)."""
import torch
from torch import nn
from _common import classification_loader

torch.manual_seed(0)
model = nn.Sequential(nn.Linear(20, 64), nn.ReLU(), nn.Dropout(0.5), nn.Linear(64, 5))
opt = torch.optim.Adam(model.parameters(), lr=1e-2)
criterion = nn.CrossEntropyLoss()
model.eval()  # BUG: never switched back to train()
loader = classification_loader()
for epoch in range(100):
    for xb, yb in loader:
        opt.zero_grad()
        loss = criterion(model(xb), yb)
        loss.backward()
        opt.step()
