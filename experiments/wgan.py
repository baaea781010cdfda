"""WGAN (Arjovsky et al. 2017) on the embedded digits: the DCGAN networks with BatchNorm in the
critic, Wasserstein loss, weight clipping to [-0.01, 0.01], RMSprop 5e-5, five critic updates
per generator update, each on its own 64 real images.

  python launch.py --config=experiments/wgan.py --workdir=/tmp/wgan
"""

from jaxgan.config import base_experiment, experiment_arg


def get_config(arg: str | None = None):
    c = base_experiment("dcgan_plain")
    c.model.d.norm = "batch"
    c.loss.name = "wasserstein"
    c.loss.clip = 0.01
    c.optim.name = "rmsprop"
    c.optim.rmsprop_decay = 0.99  # PyTorch's RMSprop default, which the paper's code used.
    c.optim.g_lr = c.optim.d_lr = 5e-5
    c.train.n_critic = 5
    return experiment_arg(c, arg)
