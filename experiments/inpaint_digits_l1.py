"""The L1-only inpainting baseline: experiments/inpaint_digits.py without the discriminator.

python launch.py --config=experiments/inpaint_digits_l1.py --workdir=/tmp/inpaint_l1
"""

from jaxgan.config import base_experiment, experiment_arg


def get_config(arg: str | None = None):
    c = base_experiment("inpaint_digits")
    c.inpaint.adv_weight = 0.0
    return experiment_arg(c, arg)
