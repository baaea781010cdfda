"""DCGAN on Stacked MNIST (three embedded digits as the RGB channels; 1,000 modes).

The mode-collapse benchmark of VEEGAN and PacGAN with the DCGAN of experiments/dcgan.py
(non-saturating loss, Adam 2e-4 / 0.5, batch 64). Evaluation reads each channel with the
embedded-MNIST classifier (trained once, cached) and counts the digit triples among 26,000
samples (PacGAN's count) for 'modes' and 'reverse_kl'; FID, KID, IS and PRDC use the same
classifier's per-channel features. The best checkpoint is kept by the number of modes.

  python launch.py --config=experiments/stacked_mnist.py --workdir=/tmp/stacked_mnist
"""

from jaxgan.config import default_config, experiment_arg


def get_config(arg: str | None = None):
    c = default_config("gan", g="dcgan", d="dcgan")
    c.data.name = "stacked_mnist"
    c.gan.z_dim = 100
    c.model.g.width = c.model.d.width = 64
    c.loss.name = "non_saturating"
    c.optim.g_lr = c.optim.d_lr = 2e-4
    c.optim.b1 = 0.5
    c.train.batch_size = 64
    c.train.num_steps = 20_000
    c.train.log_every_steps = 100
    c.train.sample_every_steps = 2000
    c.train.checkpoint_every_steps = 2000
    c.eval.every_steps = 2000
    c.eval.num_samples = 26_000
    c.eval.metrics = ("fid", "kid", "is", "prdc", "modes")
    c.eval.primary = "modes"
    return experiment_arg(c, arg)
