"""CycleGAN on two unpaired handwriting domains: scikit-learn's 8x8 digits (upscaled) <-> MNIST.

The paper's setting (Zhu et al. 2017): ResNet generators with instance norm and reflection
padding, 70x70-style PatchGAN discriminators with instance norm, least-squares adversarial loss,
cycle weight 10, identity weight 0.5 x 10, history pools of 50 images, Adam 2e-4 / 0.5 with the
rate constant for the first half and decaying linearly to 0 over the second. Scaled to 28x28
digits: 6 residual blocks (the reference's resnet_6blocks), width 32, a 34x34 PatchGAN
(num_layers=2), batch 16 (the paper: 1). Evaluation translates the 500 held-out 8x8 digits to
MNIST and compares them with the 500 held-out MNIST digits (classifier FID), and reports how
often the MNIST classifier reads a translated digit as the class it had ('accuracy').

  python launch.py --config=experiments/cyclegan.py --workdir=/tmp/cyclegan
  python launch.py --config=experiments/cyclegan.py --workdir=/tmp/cyclegan --mode=sample \\
      --source=my_digits/ --output=/tmp/translated.npz
"""

from jaxgan.config import default_config, experiment_arg


def get_config(arg: str | None = None):
    c = default_config("cyclegan", g="cyclegan_resnet", d="patchgan")
    c.data.name = "digits_unpaired"
    c.model.g.width = 32
    c.model.g.num_blocks = 6
    c.model.d.width = 32
    c.model.d.num_layers = 2
    c.model.d.norm = "instance"
    c.loss.name = "least_squares"
    c.cyclegan.adv_weight = 2.0  # Our LSGAN G loss is 0.5 E[(D - 1)^2]: 2x is the paper's.
    c.optim.g_lr = c.optim.d_lr = 2e-4
    c.optim.b1 = 0.5
    c.optim.schedule = "linear"
    c.train.num_steps = 4000
    c.optim.decay_start = c.train.num_steps // 2
    c.train.batch_size = 16
    c.train.ema_decay = 0.0  # As the paper: translations by the trained generators.
    c.train.log_every_steps = 50
    c.train.sample_every_steps = 500
    c.train.checkpoint_every_steps = 500
    c.train.num_sample_images = 32
    c.eval.every_steps = 1000
    c.eval.num_samples = 500  # The whole held-out split.
    c.eval.metrics = ("fid", "accuracy")
    c.eval.primary = "fid"
    return experiment_arg(c, arg)
