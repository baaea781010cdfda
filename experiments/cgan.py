"""Conditional DCGAN by label concatenation (the conditional GAN of Mirza & Osindero 2014, in
DCGAN's convolutional networks) on the embedded digits: the one-hot label joins G's latent and
D's image as ten constant channels. Evaluation adds the share of samples the digit classifier
puts in the requested class (`accuracy`).

  python launch.py --config=experiments/cgan.py --workdir=/tmp/cgan
  python launch.py --config=experiments/cgan.py --workdir=/tmp/cgan --mode=sample --labels=3 \
      --seeds=0-15 --output=/tmp/threes.npz
"""

from jaxgan.config import base_experiment, experiment_arg


def get_config(arg: str | None = None):
    c = base_experiment("dcgan_plain")
    c.model.g.conditioning = c.model.d.conditioning = "concat"
    c.eval.metrics = ("fid", "kid", "is", "prdc", "accuracy")
    return experiment_arg(c, arg)
