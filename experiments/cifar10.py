"""SNGAN (Miyato et al. 2018) on CIFAR-10 (32x32x3, TFDS), hinge loss, spectral norm in D,
Adam 2e-4 with beta1 = 0, beta2 = 0.9, n_dis = 5, horizontal flips; evaluated with StudioGAN's
protocol: FID, KID and IS of 50,000 samples against the 50,000 training images, Inception
features.

  # once (needs TensorFlow: pip install tensorflow): the catalog's cifar10 as array_record
  tfds build cifar10 --file_format=array_record --data_dir=~/tensorflow_datasets
  python launch.py --config=experiments/cifar10.py --workdir=/tmp/cifar10 \
      --config.eval.inception_weights=/path/to/pt_inception-2015-12-05-6726825d.pth

`--config=experiments/cifar10.py:smoke` shrinks the model and the run for tests, with one critic
update per step (the tests prepare a few CIFAR-10 records locally and point data.tfds_data_dir
at them).
"""

from jaxgan.config import base_experiment, experiment_arg


def get_config(arg: str | None = None):
    c = base_experiment("hinge_sngan")  # ResNet G and D, spectral norm, hinge, Adam (0, 0.9).
    c.data.name = "cifar10"
    c.data.flip = True
    c.model.g.width = c.model.d.width = 128
    c.train.n_critic = 5
    c.train.num_steps = 50_000
    c.train.log_every_steps = 100
    c.train.sample_every_steps = 2000
    c.train.checkpoint_every_steps = 2000
    c.eval.every_steps = 5000
    c.eval.features = "inception"
    c.eval.num_samples = 50_000
    c.eval.metrics = ("fid", "kid", "is")
    if arg == "smoke":  # The file, data and networks; 5 critic updates are wgan.py's smoke.
        c.train.n_critic = 1
    return experiment_arg(c, arg)
