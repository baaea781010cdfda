"""GAN evaluation metrics (numpy, float64) and the feature extractors that feed them.

    mu, sigma = feature_stats(features)                   # [N, D] -> mean, covariance
    fid = fid_from_features(real, fake)                    # or frechet_distance(mu1, s1, mu2, s2)
    kid_mean, kid_std = kid_from_features(real, fake)
    is_mean, is_std = inception_score(logits)
    prdc(real, fake, k=3)     # {'precision', 'recall', 'density', 'coverage'}
    count_modes(points, ring_means(), std)   count_stacked_modes(digits)
    extractor = make_extractor(config, shape); out = extract(extractor, images)
    trained = load_classifier(config.data)   # the dataset's cached classifier (trained once)

`prdc` and `inception_score` are the submodules of those names (prdc.prdc(...),
inception_score.inception_score(...)): re-exporting the functions under the same names would
shadow the modules, which `from jaxgan.metrics import prdc` must keep returning.
"""

from jaxgan.metrics import inception_score, prdc
from jaxgan.metrics.classifier import load_or_train as load_classifier
from jaxgan.metrics.classifier import train_classifier
from jaxgan.metrics.features import EXTRACTORS, Extractor, extract, make_extractor
from jaxgan.metrics.frechet import fid_from_features, frechet_distance
from jaxgan.metrics.inception import load_inception
from jaxgan.metrics.kid import kid_from_features
from jaxgan.metrics.mode_counting import count_modes, count_stacked_modes, grid_means, ring_means
from jaxgan.metrics.stats import feature_stats, load_stats, save_stats

__all__ = [
    "EXTRACTORS",
    "Extractor",
    "count_modes",
    "count_stacked_modes",
    "extract",
    "feature_stats",
    "fid_from_features",
    "frechet_distance",
    "grid_means",
    "inception_score",
    "kid_from_features",
    "load_classifier",
    "load_inception",
    "load_stats",
    "make_extractor",
    "prdc",
    "ring_means",
    "save_stats",
    "train_classifier",
]
