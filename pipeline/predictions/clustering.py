"""Segments found in the data: k-means on standardised behaviour, stable labels, drift.

Features per scored customer (the scoring window of the RFM marts): log recency, log frequency,
signed log monetary and basket, promo order share, return rate, support tickets per order
(log), the category mix (revenue shares of the most common categories + other) and the channel
mix (order shares). Each feature is standardised, then every *block* (recency, frequency,
monetary, basket, promo, returns, support, category mix, channel mix) is weighted by
1/sqrt(columns): eight category columns weigh as much as recency, not eight times more.

k in [k_min, k_max] is the one with the best silhouette (on a deterministic sample of the
fitting sample); the previous refresh's k is kept unless another k beats it by more than
`K_SWITCH_MARGIN` (a noisy silhouette must not reshuffle the clusters every refresh).

Stable labels: the new centroids are matched to the previous refresh's centroids (stored in
the warehouse in feature units, re-standardised with today's scaler) by the Hungarian
algorithm on their distances; a pair further apart than `MATCH_MAX_DISTANCE` is no match.
Matched clusters keep their id, unmatched new ones get new ids (new clusters), unmatched old
ones vanished. Without a previous refresh ids follow size (1 = largest).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from pipeline.predictions.features import sample_index

#: A cluster centroid that moved further than this (weighted standard deviations) from every
#: previous centroid is a new cluster, not the old one moved.
MATCH_MAX_DISTANCE = 1.5
#: Silhouette advantage another k needs over the previous refresh's k to replace it.
K_SWITCH_MARGIN = 0.02
#: At most this many customers enter each silhouette computation (it is quadratic).
SILHOUETTE_SAMPLE = 3_000
MAX_CATEGORIES = 8
MAX_CHANNELS = 5
#: Features that are single columns, with their block name; mixes are added per data set.
BASE_FEATURES = (
    "log_recency",
    "log_frequency",
    "log_monetary",
    "log_basket",
    "promo_share",
    "return_rate",
    "log_tickets_per_order",
)


@dataclass
class Scaler:
    """Per-feature mean and standard deviation, and the block weight of each feature."""

    mean: pd.Series
    std: pd.Series
    weight: pd.Series

    @classmethod
    def fit(cls, features: pd.DataFrame) -> Scaler:
        std = features.std(ddof=0).replace(0.0, 1.0).fillna(1.0)
        blocks = pd.Series({c: block_of(c) for c in features.columns})
        sizes = blocks.map(blocks.value_counts())
        return cls(features.mean().fillna(0.0), std, 1.0 / np.sqrt(sizes.astype(float)))

    def transform(self, features: pd.DataFrame) -> np.ndarray:
        """Standardised, block-weighted matrix; features unknown to the scaler count as 0."""
        aligned = features.reindex(columns=self.mean.index, fill_value=0.0)
        return (((aligned - self.mean) / self.std) * self.weight).to_numpy(dtype=float)


def block_of(feature: str) -> str:
    """The block a feature belongs to (`category_share__mode` -> `category_share`)."""
    return feature.split("__", 1)[0]


def feature_matrix(raw: pd.DataFrame) -> pd.DataFrame:
    """Model features from the raw behaviour frame of `assets.cluster_inputs`."""

    def signed_log(values: pd.Series) -> pd.Series:
        return np.sign(values) * np.log1p(values.abs())

    features = pd.DataFrame(
        {
            "log_recency": np.log1p(raw["recency_days"].clip(lower=0)),
            "log_frequency": np.log(raw["frequency"].clip(lower=1)),
            "log_monetary": signed_log(raw["monetary"]),
            "log_basket": signed_log(raw["avg_basket"]),
            "promo_share": raw["promo_order_share"],
            "return_rate": raw["return_rate"],
            "log_tickets_per_order": np.log1p(raw["tickets_per_order"].clip(lower=0)),
        },
        index=raw.index,
    )
    mixes = [c for c in raw.columns if c.startswith(("category_share__", "channel_share__"))]
    return pd.concat([features, raw[mixes]], axis=1).astype(float).fillna(0.0)


@dataclass
class Clustering:
    """One refresh's clusters: labels per customer, centroids, and how they were chosen."""

    labels: np.ndarray  # stable cluster ids, aligned with the input rows
    centroids: pd.DataFrame  # index cluster_id, columns = features (feature units)
    k: int
    silhouettes: dict[int, float]
    scaler: Scaler
    matched_shift: dict[int, float] = field(default_factory=dict)  # id -> centroid move
    new_clusters: list[int] = field(default_factory=list)
    vanished_clusters: list[int] = field(default_factory=list)


def choose_k(
    matrix: np.ndarray, k_min: int, k_max: int, previous_k: int | None
) -> tuple[int, dict[int, float], dict[int, object]]:
    """Silhouette of k-means for every k in range; returns the chosen k, scores and models."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score

    n = len(matrix)
    k_max = min(k_max, n - 1)
    k_min = min(k_min, k_max)
    if k_max < 2:
        raise ValueError(f"clustering needs at least 3 customers, got {n}")
    probe = matrix[: min(SILHOUETTE_SAMPLE, n)]
    scores: dict[int, float] = {}
    fitted: dict[int, object] = {}
    for k in range(k_min, k_max + 1):
        model = KMeans(n_clusters=k, n_init=2, random_state=0).fit(matrix)
        fitted[k] = model
        probe_labels = model.predict(probe)
        if len(set(probe_labels)) < 2:
            scores[k] = -1.0
            continue
        scores[k] = float(silhouette_score(probe, probe_labels))
    best = max(scores, key=lambda k: (scores[k], -k))
    if previous_k in scores and scores[previous_k] >= scores[best] - K_SWITCH_MARGIN:
        best = previous_k
    return best, scores, fitted


def cluster(
    raw: pd.DataFrame,
    *,
    k_min: int,
    k_max: int,
    sample: int,
    previous: pd.DataFrame | None = None,
) -> Clustering:
    """Cluster the customers of `raw` (one row each: customer_id, sample_key + behaviour).

    `previous`: the previous refresh's centroids (index cluster_id, feature columns, feature
    units), or None on the first refresh.
    """
    from scipy.optimize import linear_sum_assignment

    features = feature_matrix(raw)
    scaler = Scaler.fit(features)
    matrix = scaler.transform(features)
    fit_rows = sample_index(raw["sample_key"], sample)
    previous_k = len(previous) if previous is not None and len(previous) else None
    k, silhouettes, fitted = choose_k(matrix[fit_rows], k_min, k_max, previous_k)
    model = fitted[k]
    raw_labels = model.predict(matrix)
    # Centroids in feature units: the mean of each cluster's customers.
    centroids = features.groupby(raw_labels).mean()
    sizes = pd.Series(raw_labels).value_counts()

    mapping: dict[int, int] = {}
    shifts: dict[int, float] = {}
    vanished: list[int] = []
    if previous is not None and len(previous):
        now = scaler.transform(centroids)
        before = scaler.transform(previous.reindex(columns=features.columns, fill_value=0.0))
        distance = np.sqrt(((now[:, None, :] - before[None, :, :]) ** 2).sum(axis=2))
        rows, cols = linear_sum_assignment(distance)
        for r, c in zip(rows, cols, strict=True):
            if distance[r, c] <= MATCH_MAX_DISTANCE:
                mapping[int(centroids.index[r])] = int(previous.index[c])
                shifts[int(previous.index[c])] = float(distance[r, c])
        vanished = sorted(int(i) for i in previous.index if int(i) not in shifts)
    next_id = int(max(previous.index)) + 1 if previous is not None and len(previous) else 1
    new: list[int] = []
    # Unmatched clusters, largest first, take the next free ids.
    for raw_id in sorted(centroids.index, key=lambda i: (-sizes.get(i, 0), i)):
        if int(raw_id) not in mapping:
            mapping[int(raw_id)] = next_id
            new.append(next_id)
            next_id += 1
    labels = np.vectorize(mapping.get)(raw_labels) if len(raw_labels) else raw_labels
    centroids.index = [mapping[int(i)] for i in centroids.index]
    centroids = centroids.sort_index()
    if previous is None or not len(previous):
        new = []  # the first refresh has nothing to be new against
    return Clustering(
        labels=np.asarray(labels, dtype=int),
        centroids=centroids,
        k=k,
        silhouettes=silhouettes,
        scaler=scaler,
        matched_shift=shifts,
        new_clusters=sorted(new),
        vanished_clusters=vanished,
    )


@dataclass
class Drift:
    """Structure change between two consecutive refreshes (a row of cluster_drift)."""

    as_of: dt.date
    previous_as_of: dt.date | None
    k: int
    previous_k: int | None
    silhouette: float
    customers: int
    customers_compared: int
    adjusted_rand_index: float | None
    max_centroid_shift: float | None
    mean_centroid_shift: float | None
    new_clusters: list[int]
    vanished_clusters: list[int]
    min_ari: float
    max_shift: float

    @property
    def reasons(self) -> list[str]:
        """Why the structure is said to have changed (empty: it has not)."""
        out = []
        if self.previous_as_of is None:
            return out
        if self.adjusted_rand_index is not None and self.adjusted_rand_index < self.min_ari:
            out.append(f"adjusted Rand index {self.adjusted_rand_index:.2f} < {self.min_ari:.2f}")
        if self.max_centroid_shift is not None and self.max_centroid_shift > self.max_shift:
            out.append(f"a centroid moved {self.max_centroid_shift:.2f} sd > {self.max_shift:.2f}")
        if self.new_clusters:
            out.append(f"new clusters {self.new_clusters}")
        if self.vanished_clusters:
            out.append(f"vanished clusters {self.vanished_clusters}")
        return out

    @property
    def drift_detected(self) -> bool:
        """True when any reason applies."""
        return bool(self.reasons)

    def verdict(self) -> str:
        """One sentence for the report and the check."""
        if self.previous_as_of is None:
            return "first clustering: nothing to compare with yet"
        if not self.drift_detected:
            return f"stable since {self.previous_as_of}: the RFM segments still describe the base"
        return (
            f"the shape of the customer base changed since {self.previous_as_of} "
            f"({'; '.join(self.reasons)}): the RFM segments may no longer describe the base"
        )

    def row(self) -> dict[str, object]:
        """The cluster_drift row."""
        return {
            "as_of": self.as_of,
            "previous_as_of": self.previous_as_of,
            "k": self.k,
            "previous_k": self.previous_k,
            "k_criterion": "silhouette",
            "silhouette": self.silhouette,
            "customers": self.customers,
            "customers_compared": self.customers_compared,
            "adjusted_rand_index": self.adjusted_rand_index,
            "max_centroid_shift": self.max_centroid_shift,
            "mean_centroid_shift": self.mean_centroid_shift,
            "new_clusters": ",".join(map(str, self.new_clusters)),
            "vanished_clusters": ",".join(map(str, self.vanished_clusters)),
            "min_ari": self.min_ari,
            "max_shift": self.max_shift,
            "drift_detected": self.drift_detected,
            "verdict": self.verdict(),
        }


def measure_drift(
    result: Clustering,
    customer_ids: pd.Series,
    as_of: dt.date,
    previous_as_of: dt.date | None,
    previous_assignments: pd.DataFrame | None,
    previous_k: int | None,
    *,
    min_ari: float,
    max_shift: float,
) -> Drift:
    """ARI on the customers present in both refreshes, centroid moves, new/vanished ids."""
    from sklearn.metrics import adjusted_rand_score

    ari = None
    compared = 0
    if previous_assignments is not None and len(previous_assignments):
        now = pd.Series(result.labels, index=customer_ids.to_numpy())
        before = previous_assignments.set_index("customer_id")["cluster_id"]
        common = now.index.intersection(before.index)
        compared = len(common)
        if compared >= 2:
            ari = float(adjusted_rand_score(before.loc[common], now.loc[common]))
    shifts = list(result.matched_shift.values())
    return Drift(
        as_of=as_of,
        previous_as_of=previous_as_of,
        k=result.k,
        previous_k=previous_k,
        silhouette=result.silhouettes[result.k],
        customers=len(result.labels),
        customers_compared=compared,
        adjusted_rand_index=ari,
        max_centroid_shift=max(shifts) if shifts else None,
        mean_centroid_shift=float(np.mean(shifts)) if shifts else None,
        new_clusters=result.new_clusters,
        vanished_clusters=result.vanished_clusters,
        min_ari=min_ari,
        max_shift=max_shift,
    )


#: Persona words: (feature, word when above the base, word when below), by |z| of the centroid.
PERSONA_WORDS = (
    ("log_recency", "lapsed", "recent"),
    ("log_frequency", "frequent", "one-off"),
    ("log_monetary", "high-value", "low-value"),
    ("log_basket", "big baskets", "small baskets"),
    ("promo_share", "promo-driven", "full-price"),
    ("return_rate", "heavy returners", "keep what they buy"),
    ("log_tickets_per_order", "support-heavy", "self-sufficient"),
)
PERSONA_MIN_Z = 0.5


def persona_label(centroid: pd.Series, scaler: Scaler) -> str:
    """A few words for a centroid: its three most distinctive traits (|z| >= 0.5)."""
    traits = []
    for feature, high, low in PERSONA_WORDS:
        if feature not in scaler.mean.index:
            continue
        z = (centroid.get(feature, 0.0) - scaler.mean[feature]) / scaler.std[feature]
        if abs(z) >= PERSONA_MIN_Z:
            traits.append((abs(z), high if z > 0 else low))
    traits.sort(key=lambda item: -item[0])
    words = [word for _, word in traits[:3]]
    return ", ".join(words) if words else "average behaviour"
