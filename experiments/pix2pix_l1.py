"""The L1-only baseline of experiments/pix2pix.py: the same U-Net trained on L1 alone (no D).

python launch.py --config=experiments/pix2pix_l1.py --workdir=/tmp/pix2pix_l1
"""

from jaxgan.config import base_experiment, experiment_arg


def get_config(arg: str | None = None):
    c = base_experiment("pix2pix")
    c.pix2pix.adv_weight = 0.0
    return experiment_arg(c, arg)
