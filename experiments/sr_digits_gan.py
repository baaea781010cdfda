"""Super-resolution x4 of digits with a perceptual and an adversarial term (SRGAN's loss, with
the features of a network that ships: the digits' own evaluation classifier).

Starts from experiments/sr_digits.py's L1 model (train.init_from, ESRGAN's two stages) and adds
0.1 x the squared distance of the classifier's 128 hidden features and 0.01 x the relativistic
average adversarial loss with a 34x34-style PatchGAN. Same evaluation as sr_digits.py: PSNR
and SSIM may drop while the classifier FID improves, the perception-distortion trade-off.

  python launch.py --config=experiments/sr_digits.py --workdir=/tmp/sr_digits
  python launch.py --config=experiments/sr_digits_gan.py --workdir=/tmp/sr_digits_gan \\
      --config.train.init_from=/tmp/sr_digits
"""

from jaxgan.config import base_experiment, experiment_arg


def get_config(arg: str | None = None):
    c = base_experiment("sr_digits")
    c.sr.perceptual_weight = 0.1
    c.sr.adv_weight = 0.01
    c.loss.name = "relativistic_average"
    c.model.d.norm = "batch"
    c.optim.g_lr = c.optim.d_lr = 1e-4
    c.train.num_steps = 2000
    c.optim.decay_start = c.train.num_steps // 2
    c.eval.primary = "fid"
    return experiment_arg(c, arg)
