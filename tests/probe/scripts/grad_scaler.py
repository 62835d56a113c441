"""AMP GradScaler on CPU: backward sees loss * 65536; the probe must record the real loss."""
import torch
from torch import nn
from _common import classification_loader

torch.manual_seed(0)
model = nn.Sequential(nn.Linear(20, 64), nn.ReLU(), nn.Linear(64, 5))
opt = torch.optim.Adam(model.parameters(), lr=1e-2)
scaler = torch.amp.GradScaler("cpu")
loader = classification_loader()
for epoch in range(100):
    for xb, yb in loader:
        opt.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            logits = model(xb)
        loss = nn.functional.cross_entropy(logits.float(), yb)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
