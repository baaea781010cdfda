"""Conditional DCGAN of Miyato & Koyama (2018) on the embedded digits: conditional BatchNorm in
G (a scale and bias per class) and a projection discriminator (the logit gains <embed(y), h>).

  python launch.py --config=experiments/cgan_projection.py --workdir=/tmp/cgan_projection
"""

from jaxgan.config import base_experiment, experiment_arg


def get_config(arg: str | None = None):
    c = base_experiment("dcgan_plain")
    c.model.g.conditioning = "cbn"
    c.model.d.conditioning = "projection"
    c.eval.metrics = ("fid", "kid", "is", "prdc", "accuracy")
    return experiment_arg(c, arg)
