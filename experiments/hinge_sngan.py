"""SNGAN (Miyato et al. 2018) on the embedded digits (28x28x1): ResNet G (BatchNorm) and ResNet
D with spectral norm in every layer, hinge loss, Adam 2e-4 with beta1 = 0, beta2 = 0.9.

  python launch.py --config=experiments/hinge_sngan.py --workdir=/tmp/hinge_sngan

SNGAN's ResNet runs take n_dis = 5 D updates per G update; we take 2 (BigGAN's), which on
2 CPU cores trains G about twice as often in the same time. `--config.train.n_critic=5` gives
the paper's schedule. Widths are small so that a few minutes on a CPU train a useful amount:
G 7x7x64 -> 14x14x32 -> 28x28x16, D 28 -> 14x14x16 -> 7x7x32 (width 16).
"""

from jaxgan.config import default_config, experiment_arg


def get_config(arg: str | None = None):
    c = default_config("gan", g="resnet", d="resnet")
    c.data.name = "embedded_mnist"
    c.gan.z_dim = 128
    c.model.g.width = c.model.d.width = 16
    c.model.d.spectral_norm = True
    c.loss.name = "hinge"
    c.optim.g_lr = c.optim.d_lr = 2e-4
    c.optim.b1, c.optim.b2 = 0.0, 0.9
    c.train.n_critic = 2
    c.train.batch_size = 64
    c.train.num_steps = 3000
    c.train.log_every_steps = 50
    c.train.sample_every_steps = 500
    c.train.checkpoint_every_steps = 500
    c.eval.every_steps = 1000
    return experiment_arg(c, arg)
