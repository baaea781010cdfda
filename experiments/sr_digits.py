"""Super-resolution x4 of digits: 7x7 -> 28x28 embedded MNIST digits, SRResNet trained with L1.

The second SR task of the issue, on the embedded digits: each step downsamples the 28x28 digits
by 4 (bicubic, antialiased) to 7x7 inputs, where a digit is a few gray blobs. SRResNet without
BatchNorm, width 32, 6 residual blocks, batch 64, Adam 2e-4, linear decay over the second half.
Evaluation upscales the 500 held-out digits: PSNR and SSIM (4-pixel border cropped) and the
classifier FID of the outputs against the held-out digits. experiments/sr_digits_gan.py adds the
perceptual and adversarial terms.

  python launch.py --config=experiments/sr_digits.py --workdir=/tmp/sr_digits
"""

from jaxgan.config import default_config, experiment_arg


def get_config(arg: str | None = None):
    c = default_config("sr", g="srresnet", d="patchgan")
    c.data.name = "embedded_mnist"
    c.model.g.scale = 4
    c.model.g.width = 32
    c.model.g.num_blocks = 6
    c.model.d.width = 32
    c.model.d.num_layers = 2
    c.optim.g_lr = c.optim.d_lr = 2e-4
    c.optim.schedule = "linear"
    c.train.num_steps = 3000
    c.optim.decay_start = c.train.num_steps // 2
    c.train.batch_size = 64
    c.train.ema_decay = 0.0
    c.train.log_every_steps = 100
    c.train.sample_every_steps = 500
    c.train.checkpoint_every_steps = 500
    c.train.num_sample_images = 16
    c.eval.every_steps = 1000
    c.eval.num_samples = 500  # The whole held-out split.
    c.eval.metrics = ("fid", "paired")
    c.eval.primary = "psnr"
    return experiment_arg(c, arg)
