"""WGAN-GP (Gulrajani et al. 2017) on the embedded digits: the DCGAN networks without
normalisation in the critic, Wasserstein loss, gradient penalty 10 on per-sample real-fake
interpolates, Adam 1e-4 (0, 0.9), five critic updates (64 real images each) per G update.

  python launch.py --config=experiments/wgan_gp.py --workdir=/tmp/wgan_gp
"""

from jaxgan.config import base_experiment, experiment_arg


def get_config(arg: str | None = None):
    c = base_experiment("dcgan_plain")
    c.model.d.norm = "none"
    c.loss.name = "wasserstein"
    c.loss.gp_weight = 10.0
    c.optim.g_lr = c.optim.d_lr = 1e-4
    c.optim.b1, c.optim.b2 = 0.0, 0.9
    c.train.n_critic = 5
    return experiment_arg(c, arg)
