"""The model on the GPU with AMP (autocast("cuda") + GradScaler) and cudnn.benchmark on."""
import torch
from torch import nn
from _common import classification_loader

torch.manual_seed(0)
torch.backends.cudnn.benchmark = True
device = torch.device("cuda")
model = nn.Sequential(nn.Linear(20, 64), nn.ReLU(), nn.Linear(64, 5)).to(device)
opt = torch.optim.Adam(model.parameters(), lr=1e-2)
scaler = torch.amp.GradScaler("cuda")
loader = classification_loader()
for epoch in range(100):
    for xb, yb in loader:
        xb, yb = xb.to(device), yb.to(device)
        opt.zero_grad()
        with torch.autocast("cuda"):
            loss = nn.functional.cross_entropy(model(xb), yb)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
    assert torch.backends.cudnn.benchmark  # the probe keeps the script's cudnn settings
