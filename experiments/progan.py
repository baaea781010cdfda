"""Progressive GAN (Karras et al. 2018) on the embedded digits at 32x32: G and D grow from 4x4
through 8 and 16 to 32, each new resolution faded in over 500 steps and then trained stable for
500; pixel norm, equalised learning rate, minibatch std; WGAN-GP (10) with the drift term
(0.001), Adam 0.001 (0, 0.99), one D update per G update, generator EMA.

  python launch.py --config=experiments/progan.py --workdir=/tmp/progan

Widths are small so that a CPU trains a useful amount in minutes: 16 channels at 32x32, doubling
per halving up to 64 (the paper's have 512). The digits are resized from 28 to 32.
"""

from jaxgan.config import default_config, experiment_arg


def get_config(arg: str | None = None):
    c = default_config("progan", g="progan", d="progan")
    c.data.name = "embedded_mnist"
    c.data.image_size = 32
    c.progan.z_dim = 128
    c.progan.stage_steps = 500
    c.model.g.width = c.model.d.width = 16
    c.model.g.max_width = c.model.d.max_width = 64
    c.loss.name = "wasserstein"
    c.loss.gp_weight = 10.0
    c.loss.drift_weight = 0.001
    c.optim.g_lr = c.optim.d_lr = 0.001
    c.optim.b1, c.optim.b2 = 0.0, 0.99
    c.train.batch_size = 64
    c.train.num_steps = 10000
    c.train.log_every_steps = 50
    c.train.sample_every_steps = 500
    c.train.checkpoint_every_steps = 500
    c.eval.every_steps = 1000
    return experiment_arg(c, arg)
