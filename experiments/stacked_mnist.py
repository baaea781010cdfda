"""DCGAN on Stacked MNIST (three embedded digits as the RGB channels; 1,000 modes).

The mode-collapse benchmark of VEEGAN and PacGAN with the DCGAN of experiments/dcgan_plain.py
(non-saturating loss, Adam 2e-4 / 0.5, batch 64). Evaluation reads each channel with the
embedded-MNIST classifier (trained once, cached) and counts the digit triples among 26,000
samples (PacGAN's count) for 'modes' and 'reverse_kl'; FID, KID, IS and PRDC use the same
classifier's per-channel features. The best checkpoint is kept by the number of modes.

The argument picks a remedy (add ",smoke" for tests): 'pacdcgan2' packs two samples for D
(PacGAN's PacDCGAN2, 64 packs per update as PacGAN keeps D's batch), 'best' adds ProGAN's
minibatch standard deviation (groups of 4) to the packed D.

  python launch.py --config=experiments/stacked_mnist.py --workdir=/tmp/stacked_mnist
  python launch.py --config=experiments/stacked_mnist.py:pacdcgan2 --workdir=/tmp/sm_pac2 \
      --mode=seeds --num_seeds=3
"""

from jaxgan.config import ConfigError, default_config, experiment_arg

VARIANTS = ("dcgan", "pacdcgan2", "best")


def get_config(arg: str | None = None):
    c = default_config("gan", g="dcgan", d="dcgan")
    c.data.name = "stacked_mnist"
    c.gan.z_dim = 100
    c.model.g.width = c.model.d.width = 64
    c.loss.name = "non_saturating"
    c.optim.g_lr = c.optim.d_lr = 2e-4
    c.optim.b1 = 0.5
    c.train.batch_size = 64
    c.train.num_steps = 20_000
    c.train.log_every_steps = 100
    c.train.sample_every_steps = 2000
    c.train.checkpoint_every_steps = 2000
    c.eval.every_steps = 2000
    c.eval.num_samples = 26_000
    c.eval.metrics = ("fid", "kid", "is", "prdc", "modes")
    c.eval.primary = "modes"
    parts = [p for p in (arg or "").split(",") if p]
    variant = parts.pop(0) if parts and parts[0] in VARIANTS else "dcgan"
    if variant != "dcgan":
        c.gan.pack = 2
        c.train.batch_size = 64 * c.gan.pack
    if variant == "best":
        c.model.d.minibatch_std = 4
    if len(parts) > 1 or parts and parts[0] != "smoke":
        raise ConfigError(
            f"unknown config argument {arg!r}: use [{'|'.join(VARIANTS)}][,smoke] or smoke"
        )
    return experiment_arg(c, parts[0] if parts else None)
