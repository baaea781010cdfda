"""MLP GAN on the 5x5 grid of Gaussians ({-4, -2, 0, 2, 4}^2, std 0.05), the setting of PacGAN.

Lin et al. 2018 (after VEEGAN, Srivastava et al. 2017): G is an MLP with 4 hidden layers of 400
ReLU units from a 2-d Gaussian z (PacGAN adds BatchNorm, jaxgan's MLP has none), D an MLP with 3
hidden layers of 200 units (LeakyReLU here, LinearMaxout there); Adam 1e-4 (beta1 0.5), batch
100, no generator EMA. Evaluation counts modes on 2,500 samples (PacGAN's protocol). Measured
here (CPU, 30,000 steps, ~6 min): 25/25 modes, 54% high quality, reverse KL 0.23.

  python launch.py --config=experiments/toy2d_grid.py --workdir=/tmp/toy2d_grid
"""

from jaxgan.config import default_config, experiment_arg


def get_config(arg: str | None = None):
    c = default_config("gan", g="mlp", d="mlp")
    c.data.name = "toy2d_grid"  # Standard: 25 modes on a lattice of half extent 4.0, std 0.05.
    c.gan.z_dim = 2
    c.model.g.hidden = (400, 400, 400, 400)
    c.model.d.hidden = (200, 200, 200)
    c.loss.name = "non_saturating"
    c.optim.g_lr = c.optim.d_lr = 1e-4
    c.optim.b1 = 0.5
    c.train.batch_size = 100
    c.train.num_steps = 30_000
    c.train.ema_decay = 0.0
    c.train.log_every_steps = 500
    c.train.sample_every_steps = 3000
    c.train.checkpoint_every_steps = 3000
    c.eval.every_steps = 3000
    c.eval.num_samples = 2500
    c.eval.metrics = ("modes",)
    c.eval.primary = "modes"
    return experiment_arg(c, arg)
