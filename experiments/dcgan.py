"""DCGAN on the 5,000 embedded MNIST digits (28x28x1), conditioned on k-means clusters of them.

Radford et al.'s networks, loss and optimiser (`experiments/dcgan_plain.py`), plus one trick: the
training digits are split into 40 k-means clusters of their pixels (no labels are read), and G
and D take the cluster as a label (concatenated, as in the conditional GAN). Fake clusters are
drawn with the clusters' frequencies, so the model is an unconditional generator of the digits;
each cluster, a rough mode of the data, gets its own input instead of one map from z covering
all of them (cluster conditioning: Logo-GAN, Sage et al. 2018; Liu et al. 2020).

  python launch.py --config=experiments/dcgan.py --workdir=/tmp/dcgan

`--config=experiments/dcgan.py:smoke` shrinks the model and the run for tests.
"""

from jaxgan.config import base_experiment, experiment_arg


def get_config(arg: str | None = None):
    c = base_experiment("dcgan_plain")
    c.data.clusters = 40
    c.model.g.conditioning = c.model.d.conditioning = "concat"
    return experiment_arg(c, arg)
