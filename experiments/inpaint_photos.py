"""Inpainting photo crops: a U-Net fills a rectangular hole (a quarter to a half of each side) in
64x64 crops of the photographs that ship in our dependencies' wheels (data.name='photos').

The networks and balance of experiments/inpaint_digits.py (pix2pix's: U-Net width 32 with
dropout, PatchGAN, non-saturating loss plus 100 x L1 in the hole, Adam 2e-4 / 0.5), batch 16 as
for photo SR. Evaluation fills fixed holes in the 142 held-out crops of the three photos never
trained on; benchmarks/inpaint.py reports PSNR in the hole and draws masked / filled / original.

  python launch.py --config=experiments/inpaint_photos.py --workdir=/tmp/inpaint_photos
"""

from jaxgan.config import default_config, experiment_arg


def get_config(arg: str | None = None):
    c = default_config("inpaint", g="unet", d="patchgan")
    c.data.name = "photos"
    c.data.image_size = 64
    c.data.flip = True
    c.model.g.width = 32
    c.model.d.width = 32
    c.model.d.num_layers = 3
    c.loss.name = "non_saturating"
    c.optim.g_lr = c.optim.d_lr = 2e-4
    c.optim.b1 = 0.5
    c.train.batch_size = 16
    c.train.num_steps = 2000
    c.train.ema_decay = 0.0
    c.train.log_every_steps = 100
    c.train.sample_every_steps = 500
    c.train.checkpoint_every_steps = 500
    c.train.num_sample_images = 8
    c.eval.every_steps = 1000
    c.eval.num_samples = 500  # All held-out crops (142 at 64x64).
    c.eval.metrics = ("paired",)
    c.eval.primary = "psnr"
    return experiment_arg(c, arg)
