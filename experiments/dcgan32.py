"""Radford's DCGAN (experiments/dcgan_plain.py) on the embedded digits resized to 32x32: the
DCGAN row beside StyleGAN2 and ProGAN at the same resolution (docs/style.md).

  python launch.py --config=experiments/dcgan32.py --workdir=/tmp/dcgan32
"""

from jaxgan.config import base_experiment, experiment_arg


def get_config(arg: str | None = None):
    c = base_experiment("dcgan_plain")
    c.data.image_size = 32
    return experiment_arg(c, arg)
