"""Radford et al.'s DCGAN on the embedded MNIST digits (28x28x1), unconditional, as published:
non-saturating loss, Adam 2e-4 / 0.5, batch 64, z = 100. The networks, loss and optimiser the
other digit experiments start from (`experiments/dcgan.py` adds cluster conditioning).

  python launch.py --config=experiments/dcgan_plain.py --workdir=/tmp/dcgan_plain

`--config=experiments/dcgan_plain.py:smoke` shrinks the model and the run for tests.
"""

from jaxgan.config import default_config, experiment_arg


def get_config(arg: str | None = None):
    c = default_config("gan", g="dcgan", d="dcgan")
    c.data.name = "embedded_mnist"
    c.gan.z_dim = 100
    c.model.g.width = c.model.d.width = 64
    c.loss.name = "non_saturating"
    c.optim.g_lr = c.optim.d_lr = 2e-4
    c.optim.b1 = 0.5
    c.train.batch_size = 64
    c.train.num_steps = 5000
    c.train.log_every_steps = 50
    c.train.sample_every_steps = 500
    c.train.checkpoint_every_steps = 500
    c.eval.every_steps = 1000  # Classifier FID/KID/IS/PRDC of 10k samples; keeps the best.
    return experiment_arg(c, arg)
