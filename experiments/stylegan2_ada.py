"""StyleGAN2 with adaptive discriminator augmentation (Karras et al. 2020) on 500 of the embedded
digits at 32x32: experiments/stylegan2.py, trained on the split's first 500 digits, with ADA's
'bgc' pipeline at a probability p that follows the overfitting heuristic r_t toward 0.6.

  python launch.py --config=experiments/stylegan2_ada.py --workdir=/tmp/stylegan2_ada

p may move from 0 to 1 over 100k real images (the paper's 500k suits runs of millions of images;
ours see a few hundred thousand). `--config.augment.ada=off` is the same run without ADA, and
`--config.augment.ada=fixed --config.augment.ada_p=0.3` holds p fixed.
"""

from jaxgan.config import base_experiment, experiment_arg


def get_config(arg: str | None = None):
    c = base_experiment("stylegan2")
    c.data.max_examples = 500
    c.augment.ada = "adaptive"
    c.augment.ada_target = 0.6
    c.augment.ada_kimg = 100.0
    return experiment_arg(c, arg)
