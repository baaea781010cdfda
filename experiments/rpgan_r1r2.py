"""RpGAN + R1 + R2 (the loss and regulariser of R3GAN, Huang et al. 2024) on the embedded digits,
in the DCGAN networks: relativistic pairing loss, zero-centred gradient penalties on real (R1)
and generated (R2) images with the same gamma, Adam 2e-4 (0, 0.99) as R3GAN uses.

  python launch.py --config=experiments/rpgan_r1r2.py --workdir=/tmp/rpgan_r1r2
"""

from jaxgan.config import base_experiment, experiment_arg


def get_config(arg: str | None = None):
    c = base_experiment("dcgan_plain")
    c.model.d.norm = "none"  # The penalties need per-sample logits.
    c.loss.name = "relativistic"
    c.loss.r1_weight = c.loss.r2_weight = 1.0
    c.optim.b1, c.optim.b2 = 0.0, 0.99
    return experiment_arg(c, arg)
