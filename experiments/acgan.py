"""AC-GAN (Odena et al. 2017) on the embedded digits: DCGAN G with the one-hot label joined to
z; D also classifies, and both players add loss.class_weight x cross-entropy of D's class
logits (D on real images and their labels, G on its fakes and the labels asked for).

  python launch.py --config=experiments/acgan.py --workdir=/tmp/acgan
"""

from jaxgan.config import base_experiment, experiment_arg


def get_config(arg: str | None = None):
    c = base_experiment("dcgan_plain")
    c.model.g.conditioning = "concat"
    c.model.d.conditioning = "acgan"
    c.loss.class_weight = 1.0
    c.eval.metrics = ("fid", "kid", "is", "prdc", "accuracy")
    return experiment_arg(c, arg)
