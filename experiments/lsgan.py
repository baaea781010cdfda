"""LSGAN (Mao et al. 2017) on the embedded digits: the DCGAN networks with the least-squares
loss (targets a = 0 for fake, b = c = 1 for real), Adam 2e-4 / 0.5.

  python launch.py --config=experiments/lsgan.py --workdir=/tmp/lsgan
"""

from jaxgan.config import base_experiment, experiment_arg


def get_config(arg: str | None = None):
    c = base_experiment("dcgan_plain")
    c.loss.name = "least_squares"
    return experiment_arg(c, arg)
