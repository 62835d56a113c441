"""Starts a helper process, then hangs inside the loop: the probe must time out and kill both."""
import subprocess
import sys
import time

import torch
from torch import nn
from _common import classification_loader

helper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(1000)"])
print("helper", helper.pid, flush=True)
model = nn.Sequential(nn.Linear(20, 5))
opt = torch.optim.SGD(model.parameters(), lr=0.1)
loader = classification_loader()
for xb, yb in loader:
    opt.zero_grad()
    nn.functional.cross_entropy(model(xb), yb).backward()
    opt.step()
    while True:  # stuck, e.g. waiting on a lock
        time.sleep(0.05)
