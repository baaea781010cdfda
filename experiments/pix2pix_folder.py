"""pix2pix on your own pairs: data.path in a layout of the reference code
(junyanz/pytorch-CycleGAN-and-pix2pix), translating A (`source`) to B (`x`):

  ROOT/train/ (+ test/, or val/)      side-by-side pictures: A the left half, B the right
                                      (the reference's facades, maps, edges2shoes, ...)
  ROOT/trainA/ + trainB/ (+ testA/ + testB/)   pairs matched by file name, any extensions

  python launch.py --config=experiments/pix2pix_folder.py --config.data.path=~/facades \\
      --workdir=/tmp/facades
  python launch.py --workdir=/tmp/facades --mode=translate --input=my_labels/ \\
      --output=/tmp/translated

The paper's setting at its 256x256 (Isola et al. 2017): U-Net G and 70x70 PatchGAN D, width 64,
non-saturating loss + 100 x L1, Adam 2e-4 / 0.5, both halves mirrored alike (data.flip); batch 4
(the paper: 1-10). 20,000 steps are 200 epochs of 400 pairs (facades): scale train.num_steps to
your folder. `--config.data.crop=random` trains on windows along the longer side of non-square
pairs, `--config.data.translate=15` adds the paper's random jitter.

The first run decodes every picture once into the cache (bad files, and side-by-side pictures
of odd width, are skipped and counted). Evaluation (every 1,000 steps) translates the held-out
pairs (test/, val/ or testA/ + testB/; without them set --config.pix2pix.eval_split=train) and
compares each output with its target: L1 (the best checkpoint's), PSNR and SSIM; no feature
network is needed. `--config=experiments/pix2pix_folder.py:smoke` trains a tiny model on a small
side-by-side folder made from scikit-image's photos (colourisation), for tests.
"""

from jaxgan.config import base_experiment, experiment_arg


def get_config(arg: str | None = None):
    c = base_experiment("pix2pix")  # Its recipe, loss and optimiser; the folder's data.
    c.data.name = "paired_folder"
    c.data.path = ""  # Your folder: --config.data.path=/my/pairs.
    c.data.image_size = 256
    c.data.flip = True
    c.model.g.width = c.model.d.width = 64
    c.model.d.num_layers = 3  # The 70x70 PatchGAN.
    c.train.batch_size = 4
    c.train.num_steps = 20_000
    c.train.log_every_steps = 100
    c.train.sample_every_steps = 1000
    c.train.checkpoint_every_steps = 1000
    c.eval.every_steps = 1000
    c.eval.metrics = ("paired",)  # The classifier of the digits experiment knows no photos.
    c.eval.primary = "l1"  # Over every channel (PSNR and SSIM read the luma only).
    if arg == "smoke":
        from jaxgan.data import translation_folders

        c.data.path = translation_folders.example_folder("paired_folder")
        c.data.image_size = 32
    return experiment_arg(c, arg)
