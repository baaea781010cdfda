"""Inpainting digits: a U-Net fills a rectangular hole (a quarter to a half of each side) in
32x32 embedded MNIST digits, against a PatchGAN that sees the hole's mask.

pix2pix's networks and balance (Isola et al. 2017): U-Net width 32 with dropout, a 34x34-style
PatchGAN (num_layers=2), non-saturating loss plus 100 x L1 in the hole, Adam 2e-4 / 0.5, batch
64. experiments/inpaint_digits_l1.py is the L1-only baseline. Evaluation fills fixed holes in
the 500 held-out digits: classifier FID and whole-image L1/PSNR/SSIM; benchmarks/inpaint.py
reports PSNR in the hole and draws masked / filled / original.

  python launch.py --config=experiments/inpaint_digits.py --workdir=/tmp/inpaint
  python launch.py --config=experiments/inpaint_digits.py --workdir=/tmp/inpaint --mode=sample \\
      --source=my_digits/ --output=/tmp/filled.npz
"""

from jaxgan.config import default_config, experiment_arg


def get_config(arg: str | None = None):
    c = default_config("inpaint", g="unet", d="patchgan")
    c.data.name = "embedded_mnist"
    c.data.image_size = 32
    c.model.g.width = 32
    c.model.d.width = 32
    c.model.d.num_layers = 2
    c.loss.name = "non_saturating"
    c.optim.g_lr = c.optim.d_lr = 2e-4
    c.optim.b1 = 0.5
    c.train.batch_size = 64
    c.train.num_steps = 2000
    c.train.ema_decay = 0.0
    c.train.log_every_steps = 50
    c.train.sample_every_steps = 500
    c.train.checkpoint_every_steps = 500
    c.train.num_sample_images = 24
    c.eval.every_steps = 1000
    c.eval.num_samples = 500  # The whole held-out split.
    c.eval.metrics = ("fid", "paired")
    c.eval.primary = "fid"
    return experiment_arg(c, arg)
