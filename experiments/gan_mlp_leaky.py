"""An MLP GAN with LeakyReLU(0.2) in both players on the embedded MNIST digits: G z(100) -> 128
-> 128 -> 784 (tanh), D 784 -> 128 -> 128 -> 1; the "LeakyReLU 128-128 MLP" GAN.

Non-saturating loss, Adam 2e-4 / beta1 0.5, batch 64, as in `gan_mlp.py`.

  python launch.py --config=experiments/gan_mlp_leaky.py --workdir=/tmp/gan_mlp_leaky
"""

from jaxgan.config import default_config, experiment_arg


def get_config(arg: str | None = None):
    c = default_config("gan", g="mlp", d="mlp")
    c.data.name = "embedded_mnist"
    c.gan.z_dim = 100
    c.model.g.hidden = (128, 128)
    c.model.g.activation = "leaky_relu"
    c.model.d.hidden = (128, 128)
    c.loss.name = "non_saturating"
    c.optim.g_lr = c.optim.d_lr = 2e-4
    c.optim.b1 = 0.5
    c.train.batch_size = 64
    c.train.num_steps = 5000
    c.train.log_every_steps = 100
    c.train.sample_every_steps = 1000
    c.train.checkpoint_every_steps = 1000
    return experiment_arg(c, arg)
