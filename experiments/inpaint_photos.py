"""Inpainting photo crops: a U-Net fills a rectangular hole (a quarter to a half of each side) in
64x64 crops of the photographs that ship in our dependencies' wheels (data.name='photos').

experiments/inpaint_digits.py's networks and balance (pix2pix's: U-Net width 32 with dropout,
PatchGAN, non-saturating loss plus 100 x L1 in the hole, Adam 2e-4 / 0.5, 2,000 steps), with a
70x70-style PatchGAN (num_layers=3) for the larger images and batch 16 as for photo SR.
Evaluation fills fixed holes in the 142 held-out crops of the three photos never trained on
(PSNR/SSIM: photos have no classifier for FID); benchmarks/inpaint.py reports PSNR in the hole
and draws masked / filled / original.

  python launch.py --config=experiments/inpaint_photos.py --workdir=/tmp/inpaint_photos
"""

from jaxgan.config import base_experiment, experiment_arg


def get_config(arg: str | None = None):
    c = base_experiment("inpaint_digits")
    c.data.name = "photos"
    c.data.image_size = 64
    c.data.flip = True
    c.model.d.num_layers = 3
    c.train.batch_size = 16
    c.train.log_every_steps = 100
    c.train.num_sample_images = 8
    c.eval.metrics = ("paired",)  # All held-out crops (142 at 64x64): eval.num_samples is 500.
    c.eval.primary = "psnr"
    return experiment_arg(c, arg)
