"""One entry point per mode, shared by launch.py and notebooks."""

import ml_collections

from jaxgan import generator_modes, sampling
from jaxgan import train as train_lib

MODES = ("train", "sample", "evaluate", "seeds", *generator_modes.MODES, "translate")


def run(config: ml_collections.ConfigDict | None, workdir, mode: str = "train", **kwargs):
    """train: train and resume; sample: kwargs num_samples, output, seed and the recipe's inputs
    (labels=, source=), or seeds=/truncation=/checkpoint= to draw through load_generator;
    evaluate: eval.json of kwarg which ('latest' or 'best'); seeds: kwarg num_seeds runs trained
    as one vmapped program and evaluated (jaxgan.seeds, seeds.json); interpolate, project, edit,
    export, plot: jaxgan.generator_modes, and translate: jaxgan.translate (kwargs input,
    output, direction, tile, overlap, checkpoint), from the checkpoint alone: config may be
    None."""
    if mode == "train":
        return train_lib.train_and_evaluate(config, workdir)
    if mode == "sample":
        if "seeds" in kwargs:
            output = sampling.check_output(kwargs["output"])
            samples = generator_modes.sample_seeds(
                workdir,
                seeds=kwargs["seeds"],
                labels=kwargs.get("labels"),
                truncation=kwargs["truncation"],
                checkpoint=kwargs["checkpoint"],
            )
            return sampling.write_samples(samples, output)
        return sampling.sample_to_file(config, workdir, **kwargs)
    if mode == "evaluate":
        from jaxgan import evaluate

        return evaluate.evaluate_workdir(config, workdir, **kwargs)
    if mode == "seeds":
        from jaxgan import seeds

        return seeds.run(config, workdir, kwargs["num_seeds"])
    if mode == "translate":
        from jaxgan import translate

        return translate.translate(workdir, **kwargs)
    if mode in generator_modes.MODES:
        return generator_modes.MODES[mode](workdir, **kwargs)
    raise ValueError(f"unknown mode {mode!r}: choose one of {', '.join(MODES)}")
