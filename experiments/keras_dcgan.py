"""The Keras tutorial's DCGAN (TensorFlow's "Deep Convolutional Generative Adversarial Network"),
layer for layer, on the embedded digits: dense 7x7x256, 5x5 transposed convolutions, LeakyReLU,
dropout 0.3 in D; binary cross-entropy, Adam 1e-4 for both players, batch 256, z = 100.

  python launch.py --config=experiments/keras_dcgan.py --workdir=/tmp/keras_dcgan
"""

from jaxgan.config import default_config, experiment_arg


def get_config(arg: str | None = None):
    c = default_config("gan", g="keras_dcgan", d="keras_dcgan")
    c.data.name = "embedded_mnist"
    c.gan.z_dim = 100
    c.loss.name = "non_saturating"
    c.optim.g_lr = c.optim.d_lr = 1e-4
    c.optim.b1, c.optim.b2 = 0.9, 0.999  # Keras Adam's defaults.
    c.train.batch_size = 256
    c.train.num_steps = 3000
    c.train.sample_every_steps = c.train.checkpoint_every_steps = 500
    c.eval.every_steps = 1000
    return experiment_arg(c, arg)
