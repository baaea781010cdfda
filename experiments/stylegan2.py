"""StyleGAN2 (Karras et al. 2020) on the embedded digits at 32x32: mapping network (8 layers,
learning-rate multiplier 0.01), skip generator of demodulated modulated convolutions with noise
inputs, residual discriminator with minibatch std, non-saturating logistic loss, lazy R1 (every
16 D updates; gamma from the paper's heuristic 0.0002 * 32^2 / 64), lazy path-length
regularisation (weight 2, every 4 G updates), style mixing (0.9), Adam (0.0025, beta 0, 0.99),
generator EMA.

  python launch.py --config=experiments/stylegan2.py --workdir=/tmp/stylegan2

Widths are small so that a CPU trains a useful amount in minutes: 16 channels at 32x32, doubling
per halving up to 64 (the paper's CIFAR-10 model has 512). The digits are resized from 28 to 32.
Truncated samples: `--config.model.g.psi=0.7` with `--mode=sample` or `--mode=evaluate`.
"""

from jaxgan.config import default_config, experiment_arg


def get_config(arg: str | None = None):
    c = default_config("gan", g="stylegan2", d="stylegan2")
    c.data.name = "embedded_mnist"
    c.data.image_size = 32
    c.gan.z_dim = 128
    c.model.g.w_dim = 128
    c.model.g.width = c.model.d.width = 16
    c.model.g.max_width = c.model.d.max_width = 64
    c.loss.name = "non_saturating"
    c.loss.r1_weight = 0.0002 * 32**2 / 64
    c.loss.lazy_interval = 16
    c.loss.pl_weight = 2.0
    c.loss.pl_interval = 4
    c.optim.g_lr = c.optim.d_lr = 0.0025
    c.optim.b1, c.optim.b2 = 0.0, 0.99
    c.train.batch_size = 64
    c.train.num_steps = 5000
    c.train.ema_decay = 0.5 ** (64 / 20_000)  # StyleGAN2-ADA's half-life of 20k images.
    c.train.log_every_steps = 50
    c.train.sample_every_steps = 500
    c.train.checkpoint_every_steps = 500
    c.eval.every_steps = 1000
    return experiment_arg(c, arg)
