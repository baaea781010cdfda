"""The conditional GAN of Mirza & Osindero (2014) on the embedded digits: the one-hot label is
concatenated to G's latent and to D's flattened input (MLP G 110-256-128-784, MLP D 794-128-1).
On the embedded digits it does not learn the classes yet: D wins and every label gives the same
shape (docs/using_a_generator.md). Its smoke variant tests the conditional code paths.

  python launch.py --config=experiments/cgan.py --workdir=/tmp/cgan
  python launch.py --config=experiments/cgan.py --workdir=/tmp/cgan --mode=sample --labels=3 \
      --seeds=0-15 --output=/tmp/threes.npz
"""

from jaxgan.config import base_experiment, experiment_arg


def get_config(arg: str | None = None):
    c = base_experiment("gan_mlp")
    c.model.g.conditional = c.model.d.conditional = True
    return experiment_arg(c, arg)
