"""Train a small MLP on a 3-class spiral with minibatch SGD; the loss falls as it trains.

Run: python examples/quickstart.py
"""

import numpy as np

import chainrule as cr
import chainrule.functional as F
from chainrule import nn, optim

cr.manual_seed(0)
rng = np.random.default_rng(0)
n, k = 100, 3                                   # points per class, classes
r = np.tile(np.linspace(0.0, 1.0, n), k)
t = np.concatenate([np.linspace(4 * c, 4 * (c + 1), n) for c in range(k)])
t += rng.normal(0, 0.2, n * k)
X = np.stack([r * np.sin(t), r * np.cos(t)], axis=1).astype(np.float32)
y = np.repeat(np.arange(k), n)

model = nn.Sequential(nn.Linear(2, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, k))
opt = optim.SGD(model.parameters(), lr=0.03, momentum=0.9)
loader = cr.data.DataLoader(cr.data.ArrayDataset(X, y), batch_size=32, seed=0)

for epoch in range(1, 41):
    for xb, yb in loader:                       # a random minibatch B
        loss = F.cross_entropy(model(xb), yb)   # softmax + cross-entropy, gradient p - y
        opt.zero_grad()
        loss.backward()                         # backpropagation
        opt.step()                              # theta <- theta - lr * grad (with momentum)
    if epoch % 5 == 0:
        with cr.no_grad():
            logits = model(X)
            acc = (logits.numpy().argmax(1) == y).mean()
            print(f"epoch {epoch:3d}  loss {F.cross_entropy(logits, y).item():.4f}  "
                  f"accuracy {acc:.3f}")
