"""The embedded ``synthetic`` data set: IMDB-shaped reviews whose sentiment is spread over the review.

Why a generator and not a file: this machine (and CI) cannot download ``keras.datasets.imdb``, and a
benchmark must still show the tutorial's phenomenon, that long memory pays. The generator therefore
makes reviews that look like IMDB to the model (vocabulary 10,000 with Keras' reserved ids, lengths
like IMDB's, 25k/25k split, lists of word ids starting with the start token) and plants the label in
*many* weak clues spread across the whole review:

* the label is drawn first (balanced);
* each token is, with probability ``SENTIMENT_RATE``, a sentiment word, otherwise Zipf-distributed
  noise from the rest of the vocabulary;
* there are 2 x 200 sentiment words (positive, negative); word ``w`` agrees with the label with its own
  probability ``q_w`` drawn once from ``[Q_LOW, Q_HIGH]``, so clues have different strengths;
* each review ends with a neutral stretch of ``TAIL_MIN``..``TAIL_MAX`` tokens (uniform, at most half
  the review: think of the plot summary or the cast list after the verdict) with no sentiment words.

No single token decides a review; the evidence is a weighted vote over every clue the model can still
see. The neutral stretch is what separates the architectures: in most reviews the clues end tens of
steps before the review does, further than a SimpleRNN's gradients carry in training, while LSTM and
GRU gates keep them; reviews with a short stretch give every model an easy start. A truncated review
(small ``maxlen``; pre-truncation keeps the end) has fewer clues.

docs/synthetic-data.md records the tuning trials behind these constants. Because the generator knows every likelihood, it
computes the Bayes-optimal accuracy for any ``maxlen``: the posterior log-odds of a review is the sum
of ``log(P(w|pos) / P(w|neg))`` over its visible sentiment tokens (noise tokens and length carry no
evidence), and the best reachable expected accuracy is ``mean(sigmoid(|log-odds|))``. That is the
*ceiling* written beside every accuracy the harness records.

Only ``Generator.random`` and ``Generator.standard_normal`` draws are used, with inverse-CDF lookups
done here, so the arrays depend on the PCG64 bit stream alone and are the same on every machine; a
test pins their fingerprint.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

VOCAB_SIZE = 10_000
#: Keras' imdb conventions: 0 padding, 1 start of review, 2 out-of-vocabulary, words from 3 + 1.
PAD_ID, START_ID, OOV_ID, INDEX_FROM = 0, 1, 2, 3
FIRST_WORD_ID = INDEX_FROM + 1

N_TRAIN = N_TEST = 25_000
N_SENTIMENT_PER_POLARITY = 200
SENTIMENT_RATE = 0.12
Q_LOW, Q_HIGH = 0.6, 0.8
#: IMDB review lengths (in tokens) are close to log-normal: median ~178, mean ~239, long right tail.
LENGTH_MEDIAN, LENGTH_MEAN = 178.0, 239.0
LENGTH_MIN, LENGTH_MAX = 10, 2_500
ZIPF_EXPONENT = 1.0
#: Every review ends with a neutral stretch of TAIL_MIN..TAIL_MAX tokens (uniform; at most half the review).
TAIL_MIN, TAIL_MAX = 0, 40
DEFAULT_SEED = 20_240_601


@dataclass(frozen=True)
class SyntheticData:
    """The generated splits plus what the generator knows about them."""

    x_train: np.ndarray  # object array of int lists, like keras.datasets.imdb
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    #: log(P(w|positive) / P(w|negative)) for every word id; zero for noise words.
    word_llr: np.ndarray
    seed: int

    def fingerprint(self) -> str:
        """sha256 over every array, to show two machines generated the same data."""
        h = hashlib.sha256()
        for xs, ys in ((self.x_train, self.y_train), (self.x_test, self.y_test)):
            h.update(np.concatenate(list(xs)).astype("<i4").tobytes())
            h.update(np.fromiter((len(x) for x in xs), dtype="<i4", count=len(xs)).tobytes())
            h.update(ys.astype("<i1").tobytes())
        return h.hexdigest()


def _zipf_cdf(n: int) -> np.ndarray:
    weights = 1.0 / np.arange(1, n + 1, dtype=np.float64) ** ZIPF_EXPONENT
    cdf = np.cumsum(weights)
    return cdf / cdf[-1]


def _draw(cdf: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Inverse-CDF sampling: deterministic given the uniforms."""
    return np.minimum(np.searchsorted(cdf, u, side="right"), len(cdf) - 1)


def _lengths(rng: np.random.Generator, n: int) -> np.ndarray:
    mu = np.log(LENGTH_MEDIAN)
    sigma = np.sqrt(2.0 * np.log(LENGTH_MEAN / LENGTH_MEDIAN))
    raw = np.exp(mu + sigma * rng.standard_normal(n))
    return np.clip(np.rint(raw), LENGTH_MIN, LENGTH_MAX).astype(np.int64)


def generate(seed: int = DEFAULT_SEED) -> SyntheticData:
    """Generate the full 25k/25k data set (a few seconds)."""
    rng = np.random.default_rng(seed)
    word_ids = np.arange(FIRST_WORD_ID, VOCAB_SIZE)
    # Sentiment words sit among mid-frequency ids, as real sentiment words do in IMDB's ranking.
    order = np.argsort(rng.random(len(word_ids) - 100))
    sentiment_ids = word_ids[100:][order[: 2 * N_SENTIMENT_PER_POLARITY]]
    positive_ids = sentiment_ids[:N_SENTIMENT_PER_POLARITY]
    negative_ids = sentiment_ids[N_SENTIMENT_PER_POLARITY:]
    q = Q_LOW + (Q_HIGH - Q_LOW) * rng.random(N_SENTIMENT_PER_POLARITY)
    noise_ids = np.setdiff1d(word_ids, sentiment_ids)  # sorted: low id = frequent, as in IMDB
    noise_cdf = _zipf_cdf(len(noise_ids))

    # P(w | label): positive words have weight q under a positive label and 1-q under a negative one,
    # negative words the reverse; both sums are N_SENTIMENT_PER_POLARITY, so no renormalising is needed.
    ids = np.concatenate([positive_ids, negative_ids])
    p_given_pos = np.concatenate([q, 1.0 - q]) / N_SENTIMENT_PER_POLARITY
    p_given_neg = np.concatenate([1.0 - q, q]) / N_SENTIMENT_PER_POLARITY
    cdf_by_label = {1: np.cumsum(p_given_pos), 0: np.cumsum(p_given_neg)}
    for cdf in cdf_by_label.values():
        cdf /= cdf[-1]
    word_llr = np.zeros(VOCAB_SIZE)
    word_llr[ids] = np.log(p_given_pos / p_given_neg)

    def split(n: int) -> tuple[np.ndarray, np.ndarray]:
        labels = (rng.random(n) < 0.5).astype(np.int64)
        lengths = _lengths(rng, n)
        total = int(lengths.sum())
        tails = np.minimum(lengths // 2, TAIL_MIN + np.floor(rng.random(n) * (TAIL_MAX - TAIL_MIN + 1)).astype(np.int64))
        starts = np.cumsum(lengths) - lengths
        from_end = np.repeat(starts + lengths, lengths) - np.arange(total)  # 1 for a review's last token
        is_sentiment = (rng.random(total) < SENTIMENT_RATE) & (from_end > np.repeat(tails, lengths))
        u = rng.random(total)
        token_labels = np.repeat(labels, lengths)
        tokens = noise_ids[_draw(noise_cdf, u)]
        for label, cdf in cdf_by_label.items():
            mask = is_sentiment & (token_labels == label)
            tokens[mask] = ids[_draw(cdf, u[mask])]
        tokens[starts] = START_ID  # every review opens with the start token
        xs = np.empty(n, dtype=object)
        xs[:] = [row.tolist() for row in np.split(tokens, np.cumsum(lengths)[:-1])]
        return xs, labels

    x_train, y_train = split(N_TRAIN)
    x_test, y_test = split(N_TEST)
    return SyntheticData(x_train, y_train, x_test, y_test, word_llr, seed)


def bayes_accuracy(padded: np.ndarray, word_llr: np.ndarray) -> float:
    """Expected accuracy of the Bayes-optimal reader on already padded/truncated reviews.

    ``padded`` holds what a model sees at a given maxlen; the reader sums the log-likelihood ratios of
    the visible tokens and answers with the posterior's side, being right with probability
    ``sigmoid(|log-odds|)`` (balanced labels, so the prior adds nothing).
    """
    log_odds = word_llr[padded].sum(axis=1)
    return float(np.mean(1.0 / (1.0 + np.exp(-np.abs(log_odds)))))
