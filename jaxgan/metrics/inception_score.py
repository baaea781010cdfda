"""Inception Score (Salimans et al. 2016) from a classifier's logits or probabilities.

IS = exp(E_x KL(p(y|x) || p(y))) with p(y) the mean of p(y|x) over the split. It ranges from 1
(every prediction equal) to C (confident predictions spread evenly over C classes), for any number
of classes: the Inception network's 1008 or a 10-class MNIST classifier. As in the reference code
the samples are cut, in the given order, into `num_splits` consecutive near-equal parts (split i
is rows [i*N//s, (i+1)*N//s)) and the score's mean and std (ddof=0) over the parts are returned.
"""

import numpy as np
import scipy.special

from jaxgan.metrics import stats as stats_lib


def log_probabilities(predictions, from_logits: bool = True) -> np.ndarray:
    """[N, C] float64 log p(y|x): stable log-softmax of logits, or the log of probabilities."""
    p = stats_lib.as_features(predictions, "predictions", min_samples=1)
    if p.shape[1] < 2:
        raise ValueError(f"predictions need at least 2 classes, got shape {p.shape}")
    if from_logits:
        return scipy.special.log_softmax(p, axis=1)
    if p.min() < 0:
        raise ValueError(f"probabilities must be >= 0, got minimum {p.min():.3g}")
    sums = p.sum(axis=1)
    worst = np.abs(sums - 1).max()
    if worst > 1e-3:
        raise ValueError(
            f"probability rows must sum to 1 (|sum - 1| up to {worst:.3g}); "
            "pass from_logits=True for logits"
        )
    with np.errstate(divide="ignore"):
        return np.log(p / sums[:, None])  # log 0 = -inf is fine: it only meets p = 0 below


def inception_score(
    predictions, num_splits: int = 10, from_logits: bool = True
) -> tuple[float, float]:
    """(mean, std) of exp(E_x KL(p(y|x) || p(y))) over `num_splits` consecutive splits."""
    log_p = log_probabilities(predictions, from_logits)
    n = log_p.shape[0]
    if int(num_splits) != num_splits or not 1 <= num_splits <= n:
        raise ValueError(
            f"num_splits must be an integer in [1, {n}] (the number of samples), got {num_splits!r}"
        )
    scores = []
    for i in range(int(num_splits)):
        part = log_p[i * n // num_splits : (i + 1) * n // num_splits]
        log_marginal = scipy.special.logsumexp(part, axis=0) - np.log(part.shape[0])
        p = np.exp(part)
        # KL with 0 log 0 = 0: terms where p(y|x) = 0 contribute nothing (and avoid -inf * 0).
        with np.errstate(invalid="ignore"):
            kl = np.where(p > 0, p * (part - log_marginal), 0.0).sum(axis=1)
        scores.append(np.exp(kl.mean()))
    return float(np.mean(scores)), float(np.std(scores))
