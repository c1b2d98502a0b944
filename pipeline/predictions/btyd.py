"""Buy-till-you-die models: BG/NBD for purchase counts, Gamma-Gamma for order value.

Maximum likelihood on the closed-form log-likelihoods (scipy's L-BFGS-B with the analytic
gradient, on the logarithm of the parameters; see `_maximise`), and the models' closed-form
predictions. pymc-marketing implements the same models; with flat priors its MAP estimate is
this maximum likelihood, and the tests check both the estimates and the predictions against it
(tests/test_predictions.py). Written here because a refresh fits five models: pymc-marketing
imports PyMC (about 6 s per process) and compiles every model's graph again (1 to 6 s per fit),
which cost a refresh of the demo exports more than everything else in the predictions step; the
closed forms below take milliseconds on thousands of customers and under a second on 50,000.

Time is measured in weeks inside the models (the scale of the published CDNOW results, so the
estimates compare with the literature's). Inputs per customer (`PurchaseSummary`): `x` repeat
purchase days, `t_x` days from the first to the last purchase, `T` days from the first purchase
to the cutoff, the gross value of their purchases and the refunds. A purchase is a *day* with at
least one qualifying order: two orders on one day are one purchase occasion, as the model counts
them.

Defined results where the formulas are not: a single-order customer (x = 0) is alive with
probability 1 under BG/NBD (its customers can only drop out right after a repeat purchase) and
gets the population's expected order value; zero tenure (first order on the cutoff, T = 0) is a
new customer; refunds above purchases give a net order value of 0 (see `net_ratio`).

References: Fader, Hardie & Lee (2005), "Counting your customers the easy way" (BG/NBD);
Batislam, Denizel & Filiztekin (2007) (MBG/NBD); Fader, Hardie & Lee (2005), "RFM and CLV:
using iso-value curves" (Gamma-Gamma).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize, special

DAYS_PER_WEEK = 7.0
#: Gamma-Gamma is fitted on customers with at least this many purchases (a mean of one value
#: says little about a customer's spend and biases the population towards first orders).
GG_MIN_PURCHASES = 2
#: Likelihood evaluations a fit may use (pymc.find_MAP's `maxeval`).
MAX_EVALUATIONS = 5000
#: Name of the implementation, recorded in the `model` column of every prediction.
IMPLEMENTATION = "closed-form MLE"


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


def _weeks(summary: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x, t_x, T) with t_x and T in weeks."""
    return (
        summary["x"].to_numpy(dtype=float),
        summary["t_x"].to_numpy(dtype=float) / DAYS_PER_WEEK,
        summary["T"].to_numpy(dtype=float) / DAYS_PER_WEEK,
    )


def _maximise(log_likelihood, parameters: int, what: str) -> np.ndarray:
    """Parameters maximising `log_likelihood(log_params) -> (total, gradient)`.

    The estimator of the reference implementation, on purpose: scipy's L-BFGS-B with its default
    tolerances on the total log-likelihood, from every parameter at 1 (pymc-marketing's MAP with
    flat priors, which is `pymc.find_MAP`). It matters where the likelihood has no interior
    maximum: on the 10M-order demo's fit sample, the MBG/NBD likelihood keeps rising towards
    a, b -> 0 (a population that either drops out at once or never: every repeat buyer immortal),
    and a tighter optimisation walked there from the interior optimum pymc-marketing stops at,
    which predicted the holdout worse (MAE 3.40 against 3.32 purchases). The default
    tolerances stop at that interior optimum, as the reference does (the tests compare both).
    """

    def negative(log_params: np.ndarray) -> tuple[float, np.ndarray]:
        total, gradient = log_likelihood(log_params)
        return -total, -gradient

    result = optimize.minimize(
        negative,
        np.zeros(parameters),
        jac=True,
        method="L-BFGS-B",
        options={"maxfun": MAX_EVALUATIONS},
    )
    params = np.exp(result.x)
    if not np.all(np.isfinite(params)) or not np.isfinite(result.fun):
        raise ValueError(f"{what} did not converge: {result.message}")
    return params


class FittedBgNbd:
    """BG/NBD (or MBG/NBD, `modified`) with fitted parameters; predicts for any customer."""

    def __init__(self, params: BgNbdParams, modified: bool = False) -> None:
        self.params = params
        self.modified = modified

    def _odds_dropped(self, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
        """P(dropped out) / P(alive) given the history: a/(b+x-1) ((alpha+T)/(alpha+t_x))^(r+x)
        for BG/NBD (0 without a repeat purchase), a/(b+x) (...)^(r+x) for MBG/NBD."""
        p = self.params
        b_x = p.b + x if self.modified else p.b + x - 1
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            odds = p.a / b_x * np.exp((p.r + x) * np.log((p.alpha + T) / (p.alpha + t_x)))
        if self.modified:
            return odds
        return np.where(x > 0, odds, 0.0)

    def probability_alive(self, summary: pd.DataFrame) -> np.ndarray:
        """P(alive) at the cutoff (BG/NBD: 1.0 without a repeat purchase)."""
        if len(summary) == 0:
            return np.zeros(0)
        odds = self._odds_dropped(*_weeks(summary))
        with np.errstate(over="ignore"):
            alive = 1.0 / (1.0 + odds)
        return np.clip(np.nan_to_num(alive, nan=1.0), 0, 1)

    def expected_purchases(self, summary: pd.DataFrame, days: float) -> np.ndarray:
        """Expected purchases in the next `days` days given the history (the conditional
        expectation of the model; Gauss's hypergeometric function from scipy)."""
        if len(summary) == 0:
            return np.zeros(0)
        p = self.params
        x, t_x, T = _weeks(summary)
        t = days / DAYS_PER_WEEK
        shift = 1.0 if self.modified else 0.0  # MBG/NBD: b + x + 1 and a + b + x
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            hyp = special.hyp2f1(
                p.r + x, p.b + x + shift, p.a + p.b + x - 1 + shift, t / (p.alpha + T + t)
            )
            unconditional = (
                (p.a + p.b + x - 1 + shift)
                / (p.a - 1)
                * (1 - np.exp((p.r + x) * np.log((p.alpha + T) / (p.alpha + T + t))) * hyp)
            )
            out = unconditional / (1 + self._odds_dropped(x, t_x, T))
        return np.maximum(np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0), 0)

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
        x, _, T = _weeks(summary)
        t = days / DAYS_PER_WEEK
        silent = np.exp((p.r + x) * np.log((p.alpha + T) / (p.alpha + T + t)))
        return np.clip((1 - p_alive) + p_alive * silent, 0.0, 1.0)


def bgnbd_log_likelihood(
    log_params: np.ndarray, x: np.ndarray, t_x: np.ndarray, T: np.ndarray, modified: bool
) -> tuple[float, np.ndarray]:
    """Log-likelihood of the customers and its gradient in log(r, alpha, a, b).

    BG/NBD: LL = ln G(r+x) - ln G(r) + r ln alpha + ln B(a, b+x) - ln B(a, b)
                 + ln[(alpha+T)^-(r+x) + [x>0] a/(b+x-1) (alpha+t_x)^-(r+x)];
    MBG/NBD: B(a, b+x+1) instead of B(a, b+x), and a/(b+x) for every customer.
    """
    r, alpha, a, b = np.exp(log_params)
    shift = 1.0 if modified else 0.0
    has_drop = np.ones_like(x, dtype=bool) if modified else x > 0
    b_x = np.where(has_drop, b + x - 1 + shift, 1.0)  # the guard keeps log() defined
    rx = r + x
    alive_term = -rx * np.log(alpha + T)
    dropped_term = np.where(has_drop, np.log(a) - np.log(b_x) - rx * np.log(alpha + t_x), -np.inf)
    top = np.maximum(alive_term, dropped_term)
    log_sum = top + np.log(np.exp(alive_term - top) + np.exp(dropped_term - top))
    w = np.exp(dropped_term - log_sum)  # share of the "dropped at the last purchase" term
    ll = (
        special.gammaln(rx) - special.gammaln(r) + r * np.log(alpha)
        + special.gammaln(a + b) + special.gammaln(b + x + shift)
        - special.gammaln(b) - special.gammaln(a + b + x + shift)
        + log_sum
    )  # fmt: skip
    psi_ab, psi_abx = special.digamma(a + b), special.digamma(a + b + x + shift)
    d_r = special.digamma(rx) - special.digamma(r) + np.log(alpha)
    d_r -= (1 - w) * np.log(alpha + T) + w * np.log(alpha + t_x)
    d_alpha = r / alpha - (1 - w) * rx / (alpha + T) - w * rx / (alpha + t_x)
    d_a = psi_ab - psi_abx + w / a
    d_b = psi_ab + special.digamma(b + x + shift) - special.digamma(b) - psi_abx - w / b_x
    grad = np.array([d.sum() for d in (d_r, d_alpha, d_a, d_b)]) * np.array([r, alpha, a, b])
    return float(ll.sum()), grad


def fit_bgnbd(summary: pd.DataFrame, modified: bool = False) -> FittedBgNbd:
    """Maximum likelihood BG/NBD on `summary` (columns x, t_x, T in days).

    `modified`: MBG/NBD (Batislam et al. 2007), where a customer may also drop out right after
    the first purchase, so a one-time buyer silent for years is not "alive for sure" (plain
    BG/NBD gives every one-time buyer P(alive) = 1).
    """
    name = "MBG/NBD" if modified else "BG/NBD"
    if len(summary) == 0:
        raise ValueError(f"{name} needs customers with a purchase, got none")
    x, t_x, T = _weeks(summary)
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        values = _maximise(
            lambda log_params: bgnbd_log_likelihood(log_params, x, t_x, T, modified), 4, name
        )
    params = BgNbdParams(*map(float, values))
    if np.any(values > 1e6):
        raise ValueError(f"{name} did not converge: {params}")
    return FittedBgNbd(params, modified)


class FittedGammaGamma:
    """Gamma-Gamma with fitted parameters."""

    def __init__(self, params: GammaGammaParams) -> None:
        self.params = params

    def expected_order_value(self, summary: pd.DataFrame) -> np.ndarray:
        """Expected *net* value of a future purchase.

        Gamma-Gamma's conditional expectation p (v + F m) / (p F + q - 1) (F purchases of mean
        gross value m) is the expected gross value, shrunk towards the population mean; it is
        multiplied by the share of their gross the customer kept (`net_ratio`): a customer who
        returned half of what they bought is expected to return half again, one whose refunds
        exceed purchases brings 0.
        """
        if len(summary) == 0:
            return np.zeros(0)
        frame = gamma_gamma_frame(summary)
        # Defined on positive values only: a customer without positive spend (free orders)
        # gets the population mean (weight 0 on their own value).
        positive = frame["monetary_value"].to_numpy() > 0
        purchases = np.where(positive, frame["frequency"].to_numpy(dtype=float), 0.0)
        mean = np.where(positive, frame["monetary_value"].to_numpy(dtype=float), 0.0)
        p = self.params
        with np.errstate(divide="ignore", invalid="ignore"):
            gross = p.p * (p.v + purchases * mean) / (p.p * purchases + p.q - 1)
        fallback = p.population_mean()
        gross = np.where(np.isfinite(gross), gross, fallback if np.isfinite(fallback) else 0.0)
        return np.maximum(gross, 0.0) * net_ratio(summary)


def gamma_gamma_log_likelihood(
    log_params: np.ndarray, purchases: np.ndarray, mean: np.ndarray
) -> tuple[float, np.ndarray]:
    """Log-likelihood of the customers' mean values and its gradient in log(p, q, v):
    LL = ln G(pF+q) - ln G(pF) - ln G(q) + q ln v + (pF-1) ln m + pF ln F - (pF+q) ln(v+Fm)."""
    p, q, v = np.exp(log_params)
    pf = p * purchases
    log_spend = np.log(v + purchases * mean)
    ll = (
        special.gammaln(pf + q) - special.gammaln(pf) - special.gammaln(q) + q * np.log(v)
        + (pf - 1) * np.log(mean) + pf * np.log(purchases) - (pf + q) * log_spend
    )  # fmt: skip
    psi = special.digamma(pf + q)
    d_p = purchases * (psi - special.digamma(pf) + np.log(mean) + np.log(purchases) - log_spend)
    d_q = psi - special.digamma(q) + np.log(v) - log_spend
    d_v = q / v - (pf + q) / (v + purchases * mean)
    grad = np.array([d.sum() for d in (d_p, d_q, d_v)]) * np.array([p, q, v])
    return float(ll.sum()), grad


def fit_gamma_gamma(summary: pd.DataFrame) -> FittedGammaGamma:
    """Maximum likelihood Gamma-Gamma on customers with 2+ purchases and a positive mean."""
    frame = gamma_gamma_frame(summary)
    frame = frame[(frame["frequency"] >= GG_MIN_PURCHASES) & (frame["monetary_value"] > 0)]
    if len(frame) < 10:
        raise ValueError(
            f"Gamma-Gamma needs at least 10 customers with {GG_MIN_PURCHASES}+ purchases, "
            f"got {len(frame)}"
        )
    purchases = frame["frequency"].to_numpy(dtype=float)
    mean = frame["monetary_value"].to_numpy(dtype=float)
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        values = _maximise(
            lambda log_params: gamma_gamma_log_likelihood(log_params, purchases, mean),
            3,
            "Gamma-Gamma",
        )
    return FittedGammaGamma(GammaGammaParams(*map(float, values)))


def bgnbd_frame(summary: pd.DataFrame) -> pd.DataFrame:
    """The summary as pymc-marketing's BetaGeoModel reads it (frequency, recency, T in weeks):
    the tests' reference implementation."""
    x, t_x, T = _weeks(summary)
    return pd.DataFrame(
        {"customer_id": np.arange(len(summary)), "frequency": x, "recency": t_x, "T": T}
    )


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
