"""Super-resolution x4 of photos, ESRGAN-style: the L1 SRResNet fine-tuned against a
relativistic discriminator.

ESRGAN's two stages (Wang et al. 2018): first the PSNR-oriented L1 model
(experiments/sr_photos.py), then this run, which starts its generator from that model's
weights (train.init_from) and adds the relativistic average adversarial loss (RaGAN) with a
PatchGAN discriminator. ESRGAN's generator loss is 1 x VGG features + 5e-3 x adversarial +
1e-2 x L1; no pretrained photo network ships offline, so here it is L1 + 0.1 x adversarial:
the outputs trade PSNR for sharper texture, as SRGAN's and ESRGAN's do (docs/translation.md).
Adam 1e-4 (ESRGAN's GAN stage), linear decay over the second half.

  python launch.py --config=experiments/sr_photos.py --workdir=/tmp/sr_l1
  python launch.py --config=experiments/sr_photos_gan.py --workdir=/tmp/sr_gan \\
      --config.train.init_from=/tmp/sr_l1
"""

from jaxgan.config import base_experiment, experiment_arg


def get_config(arg: str | None = None):
    c = base_experiment("sr_photos")
    c.sr.adv_weight = 0.1
    c.loss.name = "relativistic_average"
    c.model.d.width = 32
    c.model.d.num_layers = 3
    c.model.d.norm = "batch"
    c.optim.g_lr = c.optim.d_lr = 1e-4
    c.train.num_steps = 2000
    c.optim.decay_start = c.train.num_steps // 2
    return experiment_arg(c, arg)
