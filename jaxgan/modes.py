"""One entry point per mode, shared by launch.py and notebooks."""

import ml_collections

from jaxgan import sampling
from jaxgan import train as train_lib

MODES = ("train", "sample", "evaluate")


def run(config: ml_collections.ConfigDict, workdir, mode: str = "train", **kwargs):
    """train: train and resume; sample: kwargs num_samples, output, seed and the recipe's inputs
    (labels=, source=); evaluate: eval.json of kwarg which ('latest' or 'best')."""
    if mode == "train":
        return train_lib.train_and_evaluate(config, workdir)
    if mode == "sample":
        return sampling.sample_to_file(config, workdir, **kwargs)
    if mode == "evaluate":
        from jaxgan import evaluate

        return evaluate.evaluate_workdir(config, workdir, **kwargs)
    raise ValueError(f"unknown mode {mode!r}: choose one of {', '.join(MODES)}")
