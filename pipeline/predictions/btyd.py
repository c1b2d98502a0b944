"""Buy-till-you-die models: BG/NBD for purchase counts, Gamma-Gamma for order value.

Both are pymc-marketing models fitted by MAP (one optimisation, no sampling). Time is measured in
weeks inside the models: the default priors of pymc-marketing are scaled for weekly data (the
CDNOW study), and a daily scale would put the MLE far in their tails.

Inputs per customer (`PurchaseSummary`): `x` repeat purchase days, `t_x` days from the first to
the last purchase, `T` days from the first purchase to the cutoff, the gross value of their
purchases and the refunds. A purchase is a *day* with at least one qualifying order: two orders
on one day are one purchase occasion, as the model counts them.

Defined results where the formulas are not: a single-order customer (x = 0) is alive with
probability 1 (BG/NBD customers can only drop out right after a repeat purchase) and gets the
population's expected order value; zero tenure (first order on the cutoff, T = 0) is a new
customer; refunds above purchases give a net order value of 0 (see `net_ratio`).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata

import numpy as np
import pandas as pd

DAYS_PER_WEEK = 7.0
#: Gamma-Gamma is fitted on customers with at least this many purchases (a mean of one value
#: says little about a customer's spend and biases the population towards first orders).
GG_MIN_PURCHASES = 2
#: Below this many customers in a fit, pytensor's FAST_COMPILE mode: its graph optimisation (every
#: fit compiles the log-likelihood and its gradient) costs more than it saves on small data. Fits
#: measured here in a fresh process (4 BG/NBD-family fits + Gamma-Gamma): 1,300 customers 5.1 s
#: against 10.8 s; 6,000 customers 9.6 s against 14.4 s; 20,000 customers 20.8 s against 10.8 s.
#: Both modes give the same estimates (1e-8 relative apart on these fits; the test allows 1e-6).
FAST_COMPILE_BELOW = 5_000

logger = logging.getLogger(__name__)


def library_version() -> str:
    """pymc-marketing's version, recorded in the `model` column of every prediction."""
    return metadata.version("pymc-marketing")


@dataclass(frozen=True)
class BgNbdParams:
    """Population parameters of BG/NBD (rate: Gamma(r, alpha) per week; dropout: Beta(a, b))."""

    r: float
    alpha: float
    a: float
    b: float


@dataclass(frozen=True)
class GammaGammaParams:
    """Population parameters of Gamma-Gamma (order value: Gamma(p, nu), nu ~ Gamma(q, v))."""

    p: float
    q: float
    v: float

    def population_mean(self) -> float:
        """Expected order value of a customer nothing is known about (needs q > 1)."""
        return self.v * self.p / (self.q - 1) if self.q > 1 else float("nan")


@contextmanager
def _quiet() -> Iterator[None]:
    """PyMC/pytensor talk a lot at import and fit time; keep the run log to our own numbers."""
    for name in ("pymc", "pytensor", "pymc_marketing", "arviz", "preliz"):
        logging.getLogger(name).setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def bgnbd_frame(summary: pd.DataFrame) -> pd.DataFrame:
    """The columns pymc-marketing's BetaGeoModel reads, in weeks."""
    return pd.DataFrame(
        {
            "customer_id": np.arange(len(summary)),
            "frequency": summary["x"].to_numpy(dtype=float),
            "recency": summary["t_x"].to_numpy(dtype=float) / DAYS_PER_WEEK,
            "T": summary["T"].to_numpy(dtype=float) / DAYS_PER_WEEK,
        }
    )


class FittedBgNbd:
    """A BetaGeoModel fitted by MAP; predicts for any customer, not only those it was fit on."""

    def __init__(self, model) -> None:
        self.model = model
        post = model.fit_result
        self.params = BgNbdParams(
            **{k: float(np.asarray(post[k]).ravel()[0]) for k in ("r", "alpha", "a", "b")}
        )

    def expected_purchases(self, summary: pd.DataFrame, days: float) -> np.ndarray:
        """Expected purchases in the next `days` days (pymc-marketing's formula)."""
        if len(summary) == 0:
            return np.zeros(0)
        with _quiet():
            out = self.model.expected_purchases(
                data=bgnbd_frame(summary), future_t=days / DAYS_PER_WEEK
            )
        return np.maximum(np.nan_to_num(np.asarray(out, dtype=float).reshape(-1), nan=0.0), 0)

    def probability_alive(self, summary: pd.DataFrame) -> np.ndarray:
        """P(alive) at the cutoff (pymc-marketing's formula; BG/NBD: 1.0 without repeat)."""
        if len(summary) == 0:
            return np.zeros(0)
        with _quiet():
            out = self.model.expected_probability_alive(data=bgnbd_frame(summary))
        return np.clip(np.nan_to_num(np.asarray(out, dtype=float).reshape(-1), nan=1.0), 0, 1)

    def probability_no_purchase(
        self, summary: pd.DataFrame, p_alive: np.ndarray, days: float
    ) -> np.ndarray:
        """P(no purchase in the next `days` days).

        A customer who dropped out never buys; one who is alive has, given the history, a
        purchase rate distributed Gamma(r + x, alpha + T) and drops out only right after a
        purchase (BG/NBD and MBG/NBD alike), so
        P(no purchase | alive) = ((alpha + T) / (alpha + T + t)) ** (r + x).
        Closed form, defined for x = 0 too (pymc-marketing's `expected_probability_no_purchase`
        is not when b < 1); the tests check that both agree where the library's is defined.
        """
        p = self.params
        x = summary["x"].to_numpy(dtype=float)
        T = summary["T"].to_numpy(dtype=float) / DAYS_PER_WEEK
        t = days / DAYS_PER_WEEK
        silent = np.exp((p.r + x) * np.log((p.alpha + T) / (p.alpha + T + t)))
        return np.clip((1 - p_alive) + p_alive * silent, 0.0, 1.0)


class FittedGammaGamma:
    """A GammaGammaModel fitted by MAP (flat priors: the maximum likelihood)."""

    def __init__(self, model) -> None:
        self.model = model
        post = model.fit_result
        self.params = GammaGammaParams(
            **{k: float(np.asarray(post[k]).ravel()[0]) for k in ("p", "q", "v")}
        )

    def expected_order_value(self, summary: pd.DataFrame) -> np.ndarray:
        """Expected *net* value of a future purchase.

        Gamma-Gamma (pymc-marketing's conditional expectation) gives the expected gross value
        from the customer's purchases, shrunk towards the population mean; it is multiplied by
        the share of their gross the customer kept (`net_ratio`): a customer who returned half of
        what they bought is expected to return half again, one whose refunds exceed purchases
        brings 0.
        """
        if len(summary) == 0:
            return np.zeros(0)
        frame = gamma_gamma_frame(summary)
        # Defined on positive values only: a customer without positive spend (free orders)
        # gets the population mean (weight 0 on their own value).
        positive = frame["monetary_value"] > 0
        frame.loc[~positive, "frequency"] = 0.0
        frame.loc[~positive, "monetary_value"] = 1.0
        with _quiet():
            out = self.model.expected_customer_spend(data=frame)
        gross = np.asarray(out, dtype=float).reshape(-1)
        fallback = self.params.population_mean()
        gross = np.where(np.isfinite(gross), gross, fallback if np.isfinite(fallback) else 0.0)
        return np.maximum(gross, 0.0) * net_ratio(summary)


@contextmanager
def _compile_mode(rows: int) -> Iterator[None]:
    """pytensor's mode for a fit on `rows` customers, unless PYTENSOR_FLAGS chose one."""
    import pytensor

    if pytensor.config.mode != "Mode":  # set by the user (e.g. mode=NUMBA): theirs
        yield
        return
    mode = "FAST_COMPILE" if rows < FAST_COMPILE_BELOW else "FAST_RUN"
    with pytensor.config.change_flags(mode=mode):
        yield


def fit_bgnbd(summary: pd.DataFrame, modified: bool = False) -> FittedBgNbd:
    """MAP estimate of BG/NBD on `summary` (columns x, t_x, T in days).

    `modified`: MBG/NBD (Batislam et al. 2007), where a customer may also drop out right after
    the first purchase, so a one-time buyer silent for years is not "alive for sure" (plain
    BG/NBD gives every one-time buyer P(alive) = 1).
    """
    from pymc_extras.prior import Prior
    from pymc_marketing.clv import BetaGeoModel, ModifiedBetaGeoModel

    # Flat priors: the MAP is the maximum likelihood estimate, the estimator of the published
    # BG/NBD results (pymc-marketing's default priors shift a and b by ~15% on CDNOW's 2,357
    # customers).
    flat = {name: Prior("HalfFlat") for name in ("r", "alpha", "a", "b")}
    with _quiet(), _compile_mode(len(summary)):
        cls = ModifiedBetaGeoModel if modified else BetaGeoModel
        model = cls(model_config=flat)
        model.fit(bgnbd_frame(summary), method="map", progressbar=False)
    fitted = FittedBgNbd(model)
    values = np.array(list(fitted.params.__dict__.values()))
    if not np.all(np.isfinite(values)) or np.any(values <= 0) or np.any(values > 1e6):
        raise ValueError(f"{cls.__name__} did not converge: {fitted.params}")
    return fitted


def fit_gamma_gamma(summary: pd.DataFrame) -> FittedGammaGamma:
    """MAP of Gamma-Gamma on customers with 2+ purchases and a positive mean gross value."""
    from pymc_marketing.clv import GammaGammaModel

    frame = gamma_gamma_frame(summary)
    frame = frame[(frame["frequency"] >= GG_MIN_PURCHASES) & (frame["monetary_value"] > 0)]
    if len(frame) < 10:
        raise ValueError(
            f"Gamma-Gamma needs at least 10 customers with {GG_MIN_PURCHASES}+ purchases, "
            f"got {len(frame)}"
        )
    with _quiet(), _compile_mode(len(frame)):
        model = GammaGammaModel()
        model.fit(frame.reset_index(drop=True), method="map", progressbar=False)
    return FittedGammaGamma(model)


def gamma_gamma_frame(summary: pd.DataFrame) -> pd.DataFrame:
    """customer_id, frequency (purchases = x + 1), monetary_value (mean gross purchase value)."""
    purchases = summary["x"].to_numpy(dtype=float) + 1
    return pd.DataFrame(
        {
            "customer_id": np.arange(len(summary)),
            "frequency": purchases,
            "monetary_value": summary["gross"].to_numpy(dtype=float) / purchases,
        }
    )


def net_ratio(summary: pd.DataFrame) -> np.ndarray:
    """Share of gross purchases not refunded, in [0, 1] (1 when there is no gross value)."""
    gross = summary["gross"].to_numpy(dtype=float)
    refunds = summary["refunds"].to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(gross > 0, 1 - refunds / gross, 1.0)
    return np.clip(np.nan_to_num(ratio, nan=1.0), 0.0, 1.0)
