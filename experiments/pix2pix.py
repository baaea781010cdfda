"""pix2pix on paired digits: edge map (Canny) -> digit, 32x32, U-Net G and PatchGAN D.

The paper's setting (Isola et al. 2017): non-saturating GAN loss plus 100 x L1, Adam 2e-4 /
0.5, BatchNorm, dropout 0.5 in G's inner decoder blocks; here batch 64 (the paper: 1-10) and
a 34x34 PatchGAN (num_layers=2; the 70x70 one sees more than a 32x32 digit). The L1-only
baseline of the same U-Net is experiments/pix2pix_l1.py. Evaluation translates the 500
held-out edge maps and compares with their digits (classifier FID, L1, PSNR, SSIM).

  python launch.py --config=experiments/pix2pix.py --workdir=/tmp/pix2pix
  python launch.py --config=experiments/pix2pix.py --workdir=/tmp/pix2pix --mode=sample \\
      --source=my_edges/ --output=/tmp/translated.npz
"""

from jaxgan.config import default_config, experiment_arg


def get_config(arg: str | None = None):
    c = default_config("pix2pix", g="unet", d="patchgan")
    c.data.name = "edges_mnist"
    c.data.image_size = 32
    c.model.g.width = 32
    c.model.d.width = 32
    c.model.d.num_layers = 2
    c.pix2pix.l1_weight = 100.0
    c.loss.name = "non_saturating"
    c.optim.g_lr = c.optim.d_lr = 2e-4
    c.optim.b1 = 0.5
    c.train.batch_size = 64
    c.train.num_steps = 3000
    c.train.ema_decay = 0.0  # As the paper: samples from the trained G itself.
    c.train.log_every_steps = 50
    c.train.sample_every_steps = 500
    c.train.checkpoint_every_steps = 500
    c.train.num_sample_images = 16
    c.eval.every_steps = 1000
    c.eval.num_samples = 500  # The whole held-out split.
    c.eval.metrics = ("fid", "paired")  # KID needs more than 500 samples to vary over subsets.
    c.eval.primary = "fid"
    return experiment_arg(c, arg)
