"""The PyTorch reference for jaxgan's DCGAN train step: the same networks, step and batch, written
as idiomatic PyTorch on the CPU, so that throughput.py can time both alternately.

Runs in its own virtualenv with a CPU build of PyTorch (PyTorch is not a dependency of jaxgan,
and this file imports nothing of it):

    python3 -m venv /tmp/torchvenv && /tmp/torchvenv/bin/pip install torch==2.13.0 numpy
    /tmp/torchvenv/bin/python benchmarks/torch_dcgan.py --model=dcgan28 [--seconds=10]
    python benchmarks/throughput.py --models=dcgan28,dcgan64 --torch=/tmp/torchvenv/bin/python

What "the same" means, layer for layer (jaxgan/models/dcgan.py, the configs of throughput.py's
`model_config`): DCGAN-28 is z = 64 -> dense 7x7x128 (no bias) -> BatchNorm, ReLU -> 4x4
stride-2 transposed conv to 64 -> BatchNorm, ReLU -> transposed conv to 1 (bias) -> tanh; D is
4x4 stride-2 convs to 64 and 128 (bias, LeakyReLU 0.2, no normalisation) -> dense to one logit.
DCGAN-64 is z = 100 -> 4x4x512 -> 256 -> 128 -> 64 -> 1, and D 64 -> 128 -> 256 -> 512 with
BatchNorm after every D conv but the first. Weights N(0, 0.02), biases 0. One step: G(z) once;
D's update on a real batch and the detached fakes (two D calls, each with its own BatchNorm
statistics, as jaxgan's paired call), non-saturating loss; G's update through the updated D with
D's parameters frozen (no weight gradients for D, as jaxgan computes none); Adam 2e-4 (0.5,
0.999) for both; then G's EMA (decay 0.999), all as jaxgan's step does. channels_last memory
format, `torch.set_num_threads(--threads)`, float32.

Prints one JSON line: model, batch, step_ms (median of five timed windows after warm-up),
images_per_sec, torch version and threads.
"""

import argparse
import copy
import json
import time

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

MODELS = {  # name: (z, image side, base side, G's first width, D BatchNorm)
    "dcgan28": (64, 28, 7, 128, False),
    "dcgan64": (100, 64, 4, 512, True),
}


def init_weights(module: nn.Module) -> None:
    for m in module.modules():
        if isinstance(m, nn.Conv2d | nn.ConvTranspose2d | nn.Linear):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


class Generator(nn.Module):
    def __init__(self, z: int, base: int, width: int, blocks: int):
        super().__init__()
        self.base, self.width = base, width
        self.dense = nn.Linear(z, base * base * width, bias=False)
        layers = []
        for i in range(blocks):
            last = i == blocks - 1
            out = 1 if last else width // 2 ** (i + 1)
            layers += [nn.BatchNorm2d(width // 2**i), nn.ReLU()]
            layers.append(nn.ConvTranspose2d(width // 2**i, out, 4, 2, 1, bias=last))
        self.body = nn.Sequential(*layers)

    def forward(self, z):
        h = self.dense(z).view(-1, self.width, self.base, self.base)
        return torch.tanh(self.body(h.contiguous(memory_format=torch.channels_last)))


class Discriminator(nn.Module):
    def __init__(self, base: int, blocks: int, batch_norm: bool):
        super().__init__()
        layers, channels = [], 1
        for i in range(blocks):
            norm = batch_norm and i > 0
            layers.append(nn.Conv2d(channels, 64 * 2**i, 4, 2, 1, bias=not norm))
            layers += [nn.BatchNorm2d(64 * 2**i)] if norm else []
            layers.append(nn.LeakyReLU(0.2))
            channels = 64 * 2**i
        self.body = nn.Sequential(*layers)
        self.logit = nn.Linear(base * base * channels, 1)

    def forward(self, x):
        h = self.body(x)
        # Flatten in (H, W, C) order, as jaxgan's NHWC dense layer reads it.
        return self.logit(h.permute(0, 2, 3, 1).reshape(h.shape[0], -1))[:, 0]


def build(name: str):
    z, side, base, width, d_norm = MODELS[name]
    blocks = int(np.log2(side // base))
    g, d = Generator(z, base, width, blocks), Discriminator(base, blocks, d_norm)
    for net in (g, d):
        init_weights(net)
        net.to(memory_format=torch.channels_last)
    return z, side, g, d


def make_step(g, d, z_dim: int, batch: int):
    g_opt = torch.optim.Adam(g.parameters(), lr=2e-4, betas=(0.5, 0.999))
    d_opt = torch.optim.Adam(d.parameters(), lr=2e-4, betas=(0.5, 0.999))
    ema = copy.deepcopy(g).requires_grad_(False)
    g_params, ema_params = list(g.parameters()), list(ema.parameters())

    def step(real):
        fake = g(torch.randn(batch, z_dim))
        d.requires_grad_(True)
        d_opt.zero_grad(set_to_none=True)
        d_loss = F.softplus(-d(real)).mean() + F.softplus(d(fake.detach())).mean()
        d_loss.backward()
        d_opt.step()
        d.requires_grad_(False)
        g_opt.zero_grad(set_to_none=True)
        g_loss = F.softplus(-d(fake)).mean()
        g_loss.backward()
        g_opt.step()
        with torch.no_grad():
            torch._foreach_lerp_(ema_params, g_params, 1.0 - 0.999)
        return d_loss, g_loss

    return step


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=sorted(MODELS), default="dcgan28")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    z_dim, side, g, d = build(args.model)
    real = (torch.rand(args.batch, 1, side, side) * 2 - 1).contiguous(
        memory_format=torch.channels_last
    )
    step = make_step(g, d, z_dim, args.batch)
    for _ in range(3):
        step(real)
    began = time.perf_counter()
    step(real)
    per_window = max(1, int(args.seconds / 5 / max(time.perf_counter() - began, 1e-6)))
    times = []
    for _ in range(5):
        began = time.perf_counter()
        for _ in range(per_window):
            d_loss, g_loss = step(real)
        times.append((time.perf_counter() - began) / per_window)
    step_s = float(np.median(times))
    finite = bool(torch.isfinite(d_loss) and torch.isfinite(g_loss))
    print(
        json.dumps(
            {
                "model": args.model,
                "batch": args.batch,
                "step_ms": 1e3 * step_s,
                "images_per_sec": args.batch / step_s,
                "torch": torch.__version__,
                "threads": torch.get_num_threads(),
                "finite": finite,
            }
        )
    )


if __name__ == "__main__":
    main()
