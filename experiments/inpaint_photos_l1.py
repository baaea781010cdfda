"""The L1-only inpainting baseline on photo crops: experiments/inpaint_photos.py without the
discriminator.

python launch.py --config=experiments/inpaint_photos_l1.py --workdir=/tmp/inpaint_photos_l1
"""

from jaxgan.config import base_experiment, experiment_arg


def get_config(arg: str | None = None):
    c = base_experiment("inpaint_photos")
    c.inpaint.adv_weight = 0.0
    return experiment_arg(c, arg)
