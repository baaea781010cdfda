"""CycleGAN on your own two domains: data.path in the layout of the reference code
(junyanz/pytorch-CycleGAN-and-pix2pix), translating A (`source`) to B (`x`) and back:

  ROOT/trainA/, ROOT/trainB/ (+ testA/, testB/)   unpaired pictures, any counts

  python launch.py --config=experiments/cyclegan_folder.py --config.data.path=~/horse2zebra \\
      --workdir=/tmp/h2z
  python launch.py --workdir=/tmp/h2z --mode=translate --input=my_horses/ --output=/tmp/zebras

The paper's setting at its 256x256 (Zhu et al. 2017): ResNet generators with 9 residual blocks,
70x70 PatchGANs, width 64, instance norm, least-squares loss, cycle weight 10, identity 0.5,
history pools of 50, Adam 2e-4 / 0.5, constant for the first half of training and decaying
linearly to 0 over the second, horizontal flips; batch 4 (the paper: 1). 50,000 steps are about
200 epochs of 1,000 pictures: scale train.num_steps to your folder, and optim.decay_start (the
step the decay starts at) to half of it. A and B need the same channels for the identity loss
(data.channels=0 takes each domain's majority): set data.channels=3, or cyclegan.identity_weight=0.

Evaluation is off: an unlabelled folder has no classifier to train for its features, so FID and
KID need the FID Inception weights (a file, not downloaded by jaxgan). With them, translating the
held-out A pictures (testA/) and comparing with the held-out B ones (testB/):

  --config.eval.inception_weights=/path/pt_inception-2015-12-05-6726825d.pth \\
  --config.eval.every_steps=5000

The first run decodes every picture once into the cache (bad files skipped and counted).
`--config=experiments/cyclegan_folder.py:smoke` trains a tiny model on a small folder made from
scikit-image's photos, for tests.
"""

from jaxgan.config import base_experiment, experiment_arg


def get_config(arg: str | None = None):
    c = base_experiment("cyclegan")  # Its recipe, losses and optimiser; the folder's data.
    c.data.name = "unpaired_folder"
    c.data.path = ""  # Your folder: --config.data.path=/my/domains.
    c.data.image_size = 256
    c.data.flip = True
    c.model.g.width = c.model.d.width = 64
    c.model.g.num_blocks = 9  # The reference's resnet_9blocks for 256x256.
    c.model.d.num_layers = 3  # The 70x70 PatchGAN.
    c.train.batch_size = 4
    c.train.num_steps = 50_000
    c.optim.decay_start = c.train.num_steps // 2
    c.train.log_every_steps = 100
    c.train.sample_every_steps = 1000
    c.train.checkpoint_every_steps = 1000
    c.eval.every_steps = 0  # Needs eval.inception_weights (see above).
    c.eval.features = "inception"
    c.eval.metrics = ("fid", "kid")
    c.eval.primary = "fid"
    if arg == "smoke":
        from jaxgan.data import translation_folders

        c.data.path = translation_folders.example_folder("unpaired_folder")
        c.data.image_size = 32
    return experiment_arg(c, arg)
