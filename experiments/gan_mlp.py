"""The original GAN on the embedded MNIST digits: MLP G (100-256-128-784, tanh), MLP D (784-128-1).

Minimax discriminator loss with the non-saturating generator loss; `--config.loss.name=minimax`
trains the saturating generator loss of the original minimax game.

  python launch.py --config=experiments/gan_mlp.py --workdir=/tmp/gan_mlp
"""

from jaxgan.config import default_config, experiment_arg


def get_config(arg: str | None = None):
    c = default_config("gan", g="mlp", d="mlp")
    c.data.name = "embedded_mnist"
    c.gan.z_dim = 100
    c.model.g.hidden = (256, 128)
    c.model.d.hidden = (128,)
    c.loss.name = "non_saturating"
    c.optim.g_lr = c.optim.d_lr = 2e-4
    c.optim.b1 = 0.5
    c.train.batch_size = 64
    c.train.num_steps = 5000
    c.train.log_every_steps = 100
    c.train.sample_every_steps = 1000
    c.train.checkpoint_every_steps = 1000
    return experiment_arg(c, arg)
