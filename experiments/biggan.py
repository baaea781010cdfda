"""A small BigGAN (Brock et al. 2019) on the embedded digits (28x28x1): ResNet G whose BatchNorm
gains and biases come from a shared class embedding and a chunk of z per block (hierarchical
latents), projection D (Miyato & Koyama 2018), spectral norm in both, self-attention (SAGAN) in
D at 7x7, hinge loss, Adam with beta1 = 0, two time-scale rates (G 2e-4, D 4e-4) and one D
update per G update (BigGAN's 2-4 D updates cost 1.5-2.5x the time per step on a CPU).

  python launch.py --config=experiments/biggan.py --workdir=/tmp/biggan

z (60) splits into 3 chunks of 20: one for the dense layer, one per up-block; each joins the
128-wide shared class embedding in the conditional BatchNorms. Widths are small so that a few
minutes on a CPU train a useful amount; evaluation adds class `accuracy`. Departures from the
paper, for a CPU budget: G has no self-attention (at 14x14 it costs more than the rest of the
step; `--config.model.g.attention=14` adds it), and G learns at 2e-4 rather than 1e-4, which
learned the classes faster (docs/zoo.md has the probes).
"""

from jaxgan.config import default_config, experiment_arg


def get_config(arg: str | None = None):
    c = default_config("gan", g="resnet", d="resnet")
    c.data.name = "embedded_mnist"
    c.gan.z_dim = 60
    c.model.g.width = 16
    c.model.g.conditioning = "biggan"
    c.model.g.embed_dim = 128
    c.model.g.spectral_norm = True
    c.model.g.attention = 0
    c.model.d.width = 16
    c.model.d.conditioning = "projection"
    c.model.d.spectral_norm = True
    c.model.d.attention = 7
    c.loss.name = "hinge"
    c.optim.g_lr, c.optim.d_lr = 2e-4, 4e-4
    c.optim.b1, c.optim.b2 = 0.0, 0.9
    c.train.n_critic = 1
    c.train.batch_size = 64
    c.train.num_steps = 3000
    c.train.log_every_steps = 50
    c.train.sample_every_steps = 500
    c.train.checkpoint_every_steps = 500
    c.eval.every_steps = 1000
    c.eval.metrics = ("fid", "kid", "is", "prdc", "accuracy")
    return experiment_arg(c, arg)
