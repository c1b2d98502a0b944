"""Candidate models, the temporal holdout that picks one, and the predictions per customer.

Candidates (each predicts, from the history up to a cutoff, the purchases in the next
`horizon` days and the probability of no purchase in the next `churn window` days):

* `bg_nbd`: BG/NBD (maximum likelihood, `btyd`) on the customers' own (x, t_x, T), the baseline
  the targets are stated against;
* `mbg_nbd`: modified BG/NBD (same fit): one-time buyers may have dropped out too;
* `gradient_boosting`: scikit-learn gradient boosting (Poisson loss for counts, a classifier for
  churn) on RFM, inter-purchase time, returns, promo share, support and NPS features. It learns
  from an *earlier* cutoff (features at c - horizon, purchases in (c - horizon, c]) and is
  applied at c;
* `naive_rate`: the baseline every number is compared with: repeat purchases / tenure x horizon
  (churn: Poisson with that rate).

`evaluate_candidates` runs the temporal holdout on the customers' own data: calibration up to
D - horizon, holdout (D - horizon, D]. Nothing is tuned on the holdout (the models' settings
are fixed here). The candidate with the lowest mean absolute error of purchases wins.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from importlib import metadata

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.predictions import btyd
from pipeline.predictions.features import (
    CHALLENGER_COLUMNS,
    Sources,
    challenger_features,
    purchases_between,
    sample_index,
)

logger = logging.getLogger(__name__)

BG_NBD = "bg_nbd"
MBG_NBD = "mbg_nbd"
BTYD = (BG_NBD, MBG_NBD)
GRADIENT_BOOSTING = "gradient_boosting"
NAIVE_RATE = "naive_rate"
#: Candidates the holdout chooses between (the naive rate is the yardstick, not a contender).
CONTENDERS = (BG_NBD, MBG_NBD, GRADIENT_BOOSTING)
#: The challenger needs this many customers known at its training cutoff.
MIN_TRAINING_CUSTOMERS = 200
#: Predicted/actual total purchases within this relative distance counts as "on total".
TOTAL_TOLERANCE = 0.10
#: Churn calibration bins.
DECILES = 10


class NotEnoughHistory(ValueError):
    """A model cannot be fitted on the data at hand (too few customers or purchases)."""


@dataclass
class Forecast:
    """Predictions for the customers of `customers` (same order)."""

    customers: pd.DataFrame  # the summary / features frame at the cutoff
    expected_purchases: np.ndarray
    churn_probability: np.ndarray


def sample_customers(frame: pd.DataFrame, n: int) -> pd.DataFrame:
    """At most `n` rows, chosen by a hash of sample_key: the same customers every refresh."""
    if len(frame) <= n:
        return frame
    return frame.iloc[np.sort(sample_index(frame["sample_key"], n))]


def _is_in(values: pd.Series, among: pd.Series) -> np.ndarray:
    """Mask of `values` found in `among`, with Arrow: pandas' own `isin` on its string dtype
    took 11-16 s for 850,000 customer ids (Arrow: under a second)."""
    column = pa.array(values)
    value_set = pa.array(among).cast(column.type)
    return pc.is_in(column, value_set=value_set).to_numpy(zero_copy_only=False)


def model_version(name: str) -> str:
    """`name (implementation version)`: the `model` column of customer_predictions."""
    if name in BTYD:
        return f"{name} ({btyd.IMPLEMENTATION}, scipy {metadata.version('scipy')})"
    if name == GRADIENT_BOOSTING:
        return f"{name} (scikit-learn {metadata.version('scikit-learn')})"
    return name


def naive_forecast(summary: pd.DataFrame, horizon: float, churn_days: float) -> Forecast:
    """Repeat purchases / tenure x horizon; zero tenure (or no repeat purchase) gives 0."""
    x = summary["x"].to_numpy(dtype=float)
    tenure = summary["T"].to_numpy(dtype=float)
    rate = np.divide(x, tenure, out=np.zeros_like(x), where=tenure > 0)
    return Forecast(summary, rate * horizon, np.exp(-rate * churn_days))


def bgnbd_forecast(
    fitted: btyd.FittedBgNbd, summary: pd.DataFrame, horizon: float, churn_days: float
) -> tuple[Forecast, np.ndarray]:
    """BG/NBD forecast and P(alive) for the customers of `summary`."""
    p_alive = fitted.probability_alive(summary)
    expected = fitted.expected_purchases(summary, horizon)
    churn = fitted.probability_no_purchase(summary, p_alive, churn_days)
    return Forecast(summary, expected, churn), p_alive


@dataclass
class GradientBoosting:
    """The challenger: two scikit-learn histogram gradient boosting models on behaviour features.

    Settings are fixed (not tuned on any holdout): Poisson loss suits counts, at most 100
    iterations, early stopping (above 10,000 customers) on a deterministic 10% validation split.
    """

    counts: object = None
    churn: object = None
    trained_on: int = 0
    #: Features unknown for every training customer (e.g. no NPS export): set to 0, since the
    #: binning of gradient boosting cannot work on a column without values.
    empty_columns: list[str] = field(default_factory=list)

    def _matrix(self, frame: pd.DataFrame) -> np.ndarray:
        matrix = frame[list(CHALLENGER_COLUMNS)].to_numpy(dtype=float)
        for name in self.empty_columns:
            matrix[:, CHALLENGER_COLUMNS.index(name)] = 0.0
        return matrix

    def fit(
        self,
        con: duckdb.DuckDBPyConnection,
        src: Sources,
        cutoff: dt.date,
        horizon: int,
        churn_days: int,
        sample: int,
    ) -> GradientBoosting:
        """Learn from features at cutoff - horizon and what happened in the following window."""
        from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

        start = cutoff - dt.timedelta(days=horizon)
        train = challenger_features(con, src, start)
        if len(train) < MIN_TRAINING_CUSTOMERS:
            raise NotEnoughHistory(
                f"gradient boosting needs {MIN_TRAINING_CUSTOMERS}+ customers known at "
                f"{start} (horizon {horizon} days before {cutoff}), found {len(train)}"
            )
        train = sample_customers(train, sample)
        target = _purchases_for(con, src, train, start, cutoff)
        churned = (
            _purchases_for(con, src, train, start, start + dt.timedelta(days=churn_days)) == 0
        ).astype(int)
        self.empty_columns = [c for c in CHALLENGER_COLUMNS if train[c].isna().all()]
        features = self._matrix(train)
        common = {"max_iter": 100, "random_state": 0, "validation_fraction": 0.1}
        self.counts = HistGradientBoostingRegressor(loss="poisson", **common).fit(features, target)
        if churned.min() == churned.max():  # one class only: nothing to learn, a constant
            self.churn = float(churned[0])
        else:
            self.churn = HistGradientBoostingClassifier(**common).fit(features, churned)
        self.trained_on = len(train)
        return self

    def forecast(self, features: pd.DataFrame) -> Forecast:
        """Predictions for the customers of a `challenger_features` frame."""
        if len(features) == 0:
            return Forecast(features, np.zeros(0), np.zeros(0))
        matrix = self._matrix(features)
        expected = np.maximum(self.counts.predict(matrix), 0.0)
        if isinstance(self.churn, float):
            churn = np.full(len(features), self.churn)
        else:
            churn = self.churn.predict_proba(matrix)[:, 1]
        return Forecast(features, expected, np.clip(churn, 0.0, 1.0))


def _purchases_for(
    con: duckdb.DuckDBPyConnection,
    src: Sources,
    customers: pd.DataFrame,
    start: dt.date,
    end: dt.date,
) -> np.ndarray:
    """Purchase days in (start, end] for each customer of `customers` (0 when none)."""
    found = purchases_between(con, src, start, end).set_index("customer_id")["purchases"]
    return customers["customer_id"].map(found).fillna(0).to_numpy(dtype=float)


@dataclass
class Score:
    """One candidate's holdout score (a row of prediction_evaluation) and its calibration."""

    model: str
    status: str = "ok"
    customers: int = 0
    mae_orders: float | None = None
    predicted_orders: float | None = None
    actual_orders: float | None = None
    ratio: float | None = None
    brier: float | None = None
    calibration: pd.DataFrame = field(default_factory=pd.DataFrame)


def score(model: str, forecast: Forecast, actual: np.ndarray, churned: np.ndarray) -> Score:
    """MAE of purchases, predicted/actual totals, churn Brier score and decile calibration."""
    predicted = forecast.expected_purchases
    churn = forecast.churn_probability
    out = Score(model=model, customers=len(actual))
    if len(actual) == 0:
        out.status = "no customers"
        return out
    out.mae_orders = float(np.mean(np.abs(predicted - actual)))
    out.predicted_orders = float(predicted.sum())
    out.actual_orders = float(actual.sum())
    out.ratio = out.predicted_orders / out.actual_orders if out.actual_orders else None
    out.brier = float(np.mean((churn - churned) ** 2))
    out.calibration = calibration_by_decile(churn, churned, predicted, actual)
    return out


def calibration_by_decile(
    churn: np.ndarray, churned: np.ndarray, predicted: np.ndarray, actual: np.ndarray
) -> pd.DataFrame:
    """Customers ranked by predicted churn, cut in 10 equal bins (ties by position)."""
    order = np.argsort(churn, kind="stable")
    bins = np.empty(len(churn), dtype=int)
    bins[order] = np.arange(len(churn)) * DECILES // max(len(churn), 1) + 1
    frame = pd.DataFrame(
        {
            "decile": bins,
            "predicted": churn,
            "observed": churned,
            "orders_predicted": predicted,
            "orders_actual": actual,
        }
    )
    grouped = frame.groupby("decile")
    return pd.DataFrame(
        {
            "decile": grouped.size().index.astype(int),
            "customers": grouped.size().to_numpy(),
            "mean_predicted_churn": grouped["predicted"].mean().to_numpy(),
            "observed_churn_rate": grouped["observed"].mean().to_numpy(),
            "mean_predicted_orders": grouped["orders_predicted"].mean().to_numpy(),
            "mean_actual_orders": grouped["orders_actual"].mean().to_numpy(),
        }
    )


@dataclass
class Evaluation:
    """The temporal holdout: the split and every candidate's score."""

    calibration_end: dt.date
    holdout_end: dt.date
    horizon_days: int
    churn_window_days: int
    scores: list[Score]
    winner: str

    def frame(self, as_of: dt.date, dataset: str = "own history") -> pd.DataFrame:
        """Rows of prediction_evaluation: one overall row per model (decile NULL), then its
        churn calibration by decile."""
        rows = []
        for s in self.scores:
            base = {
                "as_of": as_of,
                "dataset": dataset,
                "model": s.model,
                "role": "selected"
                if s.model == self.winner
                else ("baseline" if s.model == NAIVE_RATE else "challenger"),
                "status": s.status,
                "calibration_end": self.calibration_end,
                "holdout_start": self.calibration_end + dt.timedelta(days=1),
                "holdout_end": self.holdout_end,
                "horizon_days": self.horizon_days,
                "churn_window_days": self.churn_window_days,
            }
            rows.append(
                base
                | {
                    "decile": None,
                    "customers": s.customers,
                    "mae_orders": s.mae_orders,
                    "predicted_orders": s.predicted_orders,
                    "actual_orders": s.actual_orders,
                    "predicted_actual_ratio": s.ratio,
                    "brier_churn": s.brier,
                    "mean_predicted_churn": None,
                    "observed_churn_rate": None,
                }
            )
            for c in s.calibration.itertuples():
                rows.append(
                    base
                    | {
                        "decile": int(c.decile),
                        "customers": int(c.customers),
                        "mae_orders": None,
                        "predicted_orders": float(c.mean_predicted_orders * c.customers),
                        "actual_orders": float(c.mean_actual_orders * c.customers),
                        "predicted_actual_ratio": None,
                        "brier_churn": None,
                        "mean_predicted_churn": float(c.mean_predicted_churn),
                        "observed_churn_rate": float(c.observed_churn_rate),
                    }
                )
        return pd.DataFrame(rows)


def evaluate_candidates(
    con: duckdb.DuckDBPyConnection,
    src: Sources,
    as_of: dt.date,
    horizon: int,
    churn_days: int,
    sample: int,
) -> Evaluation:
    """Calibrate up to as_of - horizon, score on (as_of - horizon, as_of]; pick the winner.

    The churn window is scored within the holdout, so it is capped at the horizon.
    """
    cutoff = as_of - dt.timedelta(days=horizon)
    window = min(churn_days, horizon)
    features = challenger_features(con, src, cutoff)
    actual = _purchases_for(con, src, features, cutoff, as_of)
    churned = (
        _purchases_for(con, src, features, cutoff, cutoff + dt.timedelta(days=window)) == 0
    ).astype(float)
    scores = [score(NAIVE_RATE, naive_forecast(features, horizon, window), actual, churned)]
    fit_rows = sample_customers(features, sample)
    for name in BTYD:
        try:
            fitted = btyd.fit_bgnbd(fit_rows, modified=name == MBG_NBD)
            forecast, _ = bgnbd_forecast(fitted, features, horizon, window)
            scores.append(score(name, forecast, actual, churned))
        except Exception as exc:  # noqa: BLE001 - a fit failure is recorded, others still run
            logger.warning("%s not evaluated: %s", name, exc)
            scores.append(Score(name, status=f"not fitted: {exc}"[:200]))
    try:
        model = GradientBoosting().fit(con, src, cutoff, horizon, window, sample)
        scores.append(score(GRADIENT_BOOSTING, model.forecast(features), actual, churned))
    except Exception as exc:  # noqa: BLE001
        logger.warning("gradient boosting not evaluated: %s", exc)
        scores.append(Score(GRADIENT_BOOSTING, status=f"not fitted: {exc}"[:200]))
    return Evaluation(cutoff, as_of, horizon, window, scores, choose_winner(scores))


def choose_winner(scores: list[Score]) -> str:
    """Lowest MAE among the contenders whose predicted total is within 10% of the actual one
    (a model that gets customers right but the total wrong misleads revenue planning); when
    none is, the lowest MAE."""
    contenders = [s for s in scores if s.model in CONTENDERS and s.mae_orders is not None]
    if not contenders:
        # Nothing could be scored (history shorter than the horizon): MBG/NBD, untested;
        # `predict` falls back to the naive rate if it cannot even be fitted.
        return MBG_NBD
    on_total = [
        s for s in contenders if s.ratio is not None and abs(s.ratio - 1) <= TOTAL_TOLERANCE
    ]
    return min(on_total or contenders, key=lambda s: s.mae_orders).model


@dataclass
class Predictions:
    """customer_predictions rows and what produced them."""

    frame: pd.DataFrame
    model: str
    bgnbd: btyd.BgNbdParams | None
    gamma_gamma: btyd.GammaGammaParams | None


def predict(
    con: duckdb.DuckDBPyConnection,
    src: Sources,
    as_of: dt.date,
    customers: pd.Series,
    *,
    model: str,
    horizon: int,
    churn_days: int,
    discount_rate: float,
    sample: int,
) -> Predictions:
    """Predictions at `as_of` for `customers` (the scored customers), with `model`'s counts.

    P(alive) always comes from MBG/NBD (BG/NBD calls every one-time buyer alive; 1.0 when no
    BTYD model can be fitted), the order value from Gamma-Gamma, purchases and churn from
    `model` (falling back to MBG/NBD, BG/NBD, then the naive rate when it cannot be fitted).
    """
    everyone = challenger_features(con, src, as_of)
    features = everyone[_is_in(everyone["customer_id"], customers)].reset_index(drop=True)
    # Population parameters come from every customer with a purchase, not only the scored ones.
    fit_rows = sample_customers(everyone, sample)
    fitted: dict[str, btyd.FittedBgNbd] = {}
    # MBG/NBD always (it gives P(alive)), the winner too when it is another BTYD model.
    for name in dict.fromkeys([MBG_NBD, *([model] if model in BTYD else [])]):
        try:
            fitted[name] = btyd.fit_bgnbd(fit_rows, modified=name == MBG_NBD)
        except Exception as exc:  # noqa: BLE001 - falls back below
            logger.warning("%s could not be fitted at %s: %s", name, as_of, exc)
    alive_model = fitted.get(MBG_NBD) or fitted.get(BG_NBD)
    p_alive = (
        alive_model.probability_alive(features)
        if alive_model is not None
        else np.ones(len(features))
    )
    forecast: Forecast | None = None
    used = model
    if model == GRADIENT_BOOSTING:
        try:
            gb = GradientBoosting().fit(con, src, as_of, horizon, churn_days, sample)
            forecast = gb.forecast(features)
        except NotEnoughHistory as exc:
            logger.warning("gradient boosting not usable at %s: %s", as_of, exc)
    if forecast is None:
        used = next((m for m in (model, MBG_NBD, BG_NBD) if m in fitted), NAIVE_RATE)
        if used == NAIVE_RATE:
            forecast = naive_forecast(features, horizon, churn_days)
        else:
            forecast, _ = bgnbd_forecast(fitted[used], features, horizon, churn_days)

    gg: btyd.FittedGammaGamma | None = None
    try:
        gg = btyd.fit_gamma_gamma(fit_rows)
        value = gg.expected_order_value(features)
    except Exception as exc:  # noqa: BLE001 - too few repeat buyers: their own average
        logger.warning("Gamma-Gamma could not be fitted at %s: %s", as_of, exc)
        value = np.maximum(features["avg_value"].to_numpy(dtype=float), 0) * btyd.net_ratio(
            features
        )
    expected = forecast.expected_purchases
    discount = (
        discount_factor(alive_model, features, horizon, discount_rate)
        if alive_model is not None
        else uniform_discount_factor(horizon, discount_rate)
    )
    value_name = "gamma_gamma" if gg is not None else "own average"
    frame = pd.DataFrame(
        {
            "customer_id": features["customer_id"],
            "as_of": as_of,
            "p_alive": p_alive,
            "expected_orders": expected,
            "expected_order_value": value,
            "predicted_clv": expected * value * discount,
            "churn_probability": forecast.churn_probability,
            "model": f"{model_version(used)} + {value_name}",
        }
    )
    return Predictions(
        frame=frame,
        model=used,
        bgnbd=alive_model.params if alive_model is not None else None,
        gamma_gamma=gg.params if gg is not None else None,
    )


def uniform_discount_factor(horizon: int, rate: float) -> float:
    """Average discount of purchases spread evenly over the horizon (monthly steps)."""
    if rate <= 0:
        return 1.0
    steps = max(int(round(horizon / 30.4375)), 1)
    mids = (np.arange(steps) + 0.5) * horizon / steps
    return float(np.mean((1 + rate) ** (-mids / 365.25)))


def discount_factor(
    fitted: btyd.FittedBgNbd, features: pd.DataFrame, horizon: int, rate: float
) -> np.ndarray | float:
    """Per customer, the discount of their expected purchases timed as BG/NBD times them.

    Monthly steps: the purchases expected in month k are discounted by (1 + rate) ** -(t_k / 365)
    at the month's middle. BG/NBD front-loads purchases of customers likely to drop out.
    """
    if rate <= 0 or len(features) == 0:
        return 1.0
    steps = max(int(round(horizon / 30.4375)), 1)
    edges = np.linspace(0, horizon, steps + 1)
    cumulative = [np.zeros(len(features))] + [
        fitted.expected_purchases(features, float(t)) for t in edges[1:]
    ]
    weights = (1 + rate) ** (-((edges[:-1] + edges[1:]) / 2) / 365.25)
    discounted = sum((cumulative[k + 1] - cumulative[k]) * weights[k] for k in range(steps))
    total = cumulative[-1]
    return np.where(total > 0, discounted / np.where(total > 0, total, 1), weights.mean())
