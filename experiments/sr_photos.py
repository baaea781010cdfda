"""Super-resolution x4 of photos: SRResNet trained with L1, the PSNR-oriented baseline.

Photo crops from the photographs that ship in scikit-image's, scikit-learn's and matplotlib's
wheels (data.name='photos': eight training photos, three held out whole). Each step downsamples
64x64 crops by 4 (bicubic, antialiased) to 16x16 inputs. SRResNet (Ledig et al. 2017) without
BatchNorm, scaled to this machine: width 32, 8 residual blocks (the paper: 64 and 16), batch 16.
G learns the residual over bicubic upscaling (model.g.skip='bicubic'). Adam 1e-3, five times
ESRGAN's PSNR-stage rate for a budget of 5,000 steps instead of its million, constant for half
the steps, then decaying linearly to 0.
Evaluation upscales the held-out photos' 142 crops of 64x64 and reports PSNR and SSIM on the luma
channel with a 4-pixel border cropped; benchmarks/sr_photos.py evaluates whole photos.
The adversarial (ESRGAN-style) run is experiments/sr_photos_gan.py.

  python launch.py --config=experiments/sr_photos.py --workdir=/tmp/sr_l1
  python launch.py --workdir=/tmp/sr_l1 --mode=translate --input=small.png --output=/tmp/big
"""

from jaxgan.config import default_config, experiment_arg


def get_config(arg: str | None = None):
    c = default_config("sr", g="srresnet", d="patchgan")
    c.data.name = "photos"
    c.data.image_size = 64
    c.data.flip = True
    c.model.g.scale = 4
    c.model.g.width = 32
    c.model.g.num_blocks = 8
    c.sr.pixel_weight = 1.0
    c.sr.adv_weight = 0.0
    c.optim.g_lr = c.optim.d_lr = 1e-3
    c.optim.b1 = 0.9
    c.optim.schedule = "linear"
    c.train.num_steps = 5000
    c.optim.decay_start = c.train.num_steps // 2
    c.train.batch_size = 16
    c.train.ema_decay = 0.0
    c.train.log_every_steps = 100
    c.train.sample_every_steps = 500
    c.train.checkpoint_every_steps = 500
    c.train.num_sample_images = 8
    c.eval.every_steps = 500
    c.eval.num_samples = 500  # All held-out crops (142 at 64x64).
    c.eval.metrics = ("paired",)
    c.eval.primary = "psnr"
    return experiment_arg(c, arg)
