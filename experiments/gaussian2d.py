"""One 2-D Gaussian with a full covariance: the smallest check that a GAN learns a distribution's
shape, not only where it sits.

Data: N(mu, Sigma) with mu = (1, -1) and Sigma = [[1, 0.75], [0.75, 0.8]] (correlation 0.84;
jaxgan.data.toy2d.GAUSSIAN_MEAN/COV). G and D are small MLPs; evaluation compares the samples'
mean and covariance with mu and Sigma on 10,000 samples: mean_error = |mean - mu| and cov_error
= |cov - Sigma|_F / |Sigma|_F. The test trains the 'test' variant for two seeds and asks for
mean_error < 0.1 and cov_error < 0.15 from each.

  python launch.py --config=experiments/gaussian2d.py --workdir=/tmp/gaussian2d
  python launch.py --config=experiments/gaussian2d.py --workdir=/tmp/gaussian2d_seeds \
      --mode=seeds --num_seeds=10
"""

from jaxgan.config import ConfigError, default_config, smoke


def get_config(arg: str | None = None):
    c = default_config("gan", g="mlp", d="mlp")
    c.data.name = "toy2d_gaussian"
    c.gan.z_dim = 2
    c.model.g.hidden = (32, 32)
    c.model.g.activation = "leaky_relu"
    c.model.d.hidden = (32, 32)
    c.loss.name = "non_saturating"
    c.optim.g_lr = c.optim.d_lr = 1e-3
    c.optim.b1 = 0.5
    c.train.batch_size = 256
    c.train.num_steps = 3000
    c.train.ema_decay = 0.99
    c.train.log_every_steps = 500
    c.train.sample_every_steps = 1000
    c.train.checkpoint_every_steps = 1000
    c.eval.every_steps = 1000
    c.eval.num_samples = 10_000
    c.eval.metrics = ("moments",)
    c.eval.primary = "cov_error"
    if arg == "test":  # What tests/test_mode_collapse.py trains.
        c.train.num_steps = 1500
        return c
    if arg == "smoke":
        return smoke(c)
    if arg is not None:
        raise ConfigError(f"unknown config argument {arg!r}: use 'smoke', 'test' or nothing")
    return c
