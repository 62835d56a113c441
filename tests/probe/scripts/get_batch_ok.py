"""nanoGPT-style: batches sliced by hand from one long token tensor by get_batch(); the model
computes its own loss from (idx, targets)."""
import torch
from torch import nn
from torch.nn import functional as F

torch.manual_seed(0)
vocab, block, batch_size = 16, 8, 8
data = torch.randint(0, vocab, (2000,))


def get_batch():
    ix = torch.randint(len(data) - block, (batch_size,))
    x = torch.stack([data[i:i + block] for i in ix])
    y = torch.stack([data[i + 1:i + 1 + block] for i in ix])
    return x, y


class TinyLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.tok = nn.Embedding(vocab, 16)
        self.pos = nn.Parameter(torch.zeros(block, 16))
        self.mix = nn.Linear(block * 16, 128)
        self.head = nn.Linear(128, block * vocab)

    def forward(self, idx, targets=None):
        h = (self.tok(idx) + self.pos).flatten(1)
        logits = self.head(torch.relu(self.mix(h))).view(-1, block, vocab)
        loss = None if targets is None else F.cross_entropy(logits.view(-1, vocab), targets.view(-1))
        return logits, loss


model = TinyLM()
optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
for it in range(1000):
    xb, yb = get_batch()
    logits, loss = model(xb, yb)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
