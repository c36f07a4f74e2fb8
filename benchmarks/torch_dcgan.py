"""tinygan's canonical 28x28 DCGAN (tinygan/models/dcgan.py) in PyTorch, for the benchmarks that compare.

``build(torch) -> (G, D)`` on the CPU with DCGAN's initialization: weights N(0, 0.02),
BatchNorm gains N(1, 0.02), biases 0.  benchmarks/dcgan_step.py, gpu_dcgan_step.py and
dcgan_quality_torch.py all use it, so they time and train the same network.
"""
from __future__ import annotations


def build(torch):
    nn = torch.nn
    G = nn.Sequential(
        nn.Linear(100, 128 * 7 * 7), nn.Unflatten(1, (128, 7, 7)), nn.BatchNorm2d(128), nn.ReLU(),
        nn.ConvTranspose2d(128, 64, 4, 2, 1), nn.BatchNorm2d(64), nn.ReLU(),
        nn.ConvTranspose2d(64, 1, 4, 2, 1), nn.Tanh())
    D = nn.Sequential(
        nn.Conv2d(1, 64, 4, 2, 1), nn.LeakyReLU(0.2), nn.Conv2d(64, 128, 4, 2, 1),
        nn.BatchNorm2d(128), nn.LeakyReLU(0.2), nn.Flatten(), nn.Linear(128 * 7 * 7, 1))
    for m in list(G.modules()) + list(D.modules()):
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0, 0.02)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1, 0.02)
            nn.init.zeros_(m.bias)
    return G, D
