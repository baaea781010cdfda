"""DCGAN on a folder of your own pictures, at data.image_size (default 64x64, RGB or gray by the
folder's majority), non-saturating loss, Adam 2e-4 / 0.5, horizontal flips.

  python launch.py --config=experiments/folder.py --config.data.path=/my/pictures \
      --workdir=/tmp/folder [--config.data.image_size=32] [--config.data.crop=random]

The first run decodes every picture once into the cache (a progress bar; bad files are skipped
and counted) and later runs start from it. Evaluation needs a feature network for your data:
`--config.eval.features=classifier` when the pictures sit in one subfolder per class (or
data.labels_file names their classes), else the Inception weights file via
`--config.eval.inception_weights=PATH`; `--config.eval.every_steps=1000` turns it on during
training (it is off by default).

`--config=experiments/folder.py:smoke` trains on scikit-image's bundled photos (a real folder of
mixed sizes and modes) with a tiny model, for tests.
"""

from jaxgan.config import base_experiment, experiment_arg


def get_config(arg: str | None = None):
    c = base_experiment("dcgan_plain")  # Its networks, loss and optimiser; the folder's data.
    c.data.name = "image_folder"
    c.data.path = ""  # Your folder: --config.data.path=/my/pictures.
    c.data.image_size = 64
    c.data.flip = True
    c.train.num_steps = 20_000
    c.train.log_every_steps = 100
    c.train.sample_every_steps = 1000
    c.train.checkpoint_every_steps = 1000
    c.eval.every_steps = 0
    if arg == "smoke":
        import skimage

        c.data.path = skimage.data_dir
        c.data.image_size = 16
    return experiment_arg(c, arg)
