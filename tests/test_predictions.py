"""Predictions and behaviour clusters: models, edge cases, stability and drift (small data)."""

from __future__ import annotations

import datetime as dt
import warnings

import duckdb
import numpy as np
import pandas as pd
import pytest

from pipeline.predictions import btyd, clustering, models
from pipeline.predictions.features import Sources, challenger_features, purchase_summary
from pipeline.predictions.simulate import cdnow_transactions, draw_transactions, load_transactions

TRUE_BGNBD = btyd.BgNbdParams(r=0.25, alpha=4.0, a=0.8, b=2.5)
TRUE_GG = btyd.GammaGammaParams(p=6.0, q=4.0, v=15.0)
START, END = dt.date(2022, 1, 1), dt.date(2025, 1, 1)
#: End of week 39 of CDNOW: the calibration period of Fader, Hardie & Lee (2005).
CDNOW_CALIBRATION_END = dt.date(1997, 9, 30)


@pytest.fixture(scope="module")
def synthetic():
    """4,000 customers drawn from known BG/NBD and Gamma-Gamma parameters, in DuckDB."""
    orders = draw_transactions(4000, TRUE_BGNBD, start=START, end=END, value=TRUE_GG, seed=3)
    con = duckdb.connect()
    src = Sources(*load_transactions(con, orders))
    yield con, src
    con.close()


@pytest.fixture(scope="module")
def cdnow_calibration():
    """CDNOW's 1/10 sample in DuckDB and its purchase summary at the end of week 39."""
    con = duckdb.connect()
    src = Sources(*load_transactions(con, cdnow_transactions(sample=True)))
    yield con, src, purchase_summary(con, src, CDNOW_CALIBRATION_END)
    con.close()


def _relative_error(fitted: float, true: float) -> float:
    return abs(fitted - true) / true


def test_bgnbd_and_gamma_gamma_recover_the_parameters_of_a_synthetic_population(synthetic):
    con, src = synthetic
    summary = purchase_summary(con, src, END)
    bg = btyd.fit_bgnbd(summary).params
    assert _relative_error(bg.r, TRUE_BGNBD.r) < 0.15, bg
    assert _relative_error(bg.alpha, TRUE_BGNBD.alpha) < 0.2, bg
    assert _relative_error(bg.a, TRUE_BGNBD.a) < 0.3, bg
    assert _relative_error(bg.b, TRUE_BGNBD.b) < 0.3, bg
    gg = btyd.fit_gamma_gamma(summary).params
    assert _relative_error(gg.population_mean(), TRUE_GG.population_mean()) < 0.1, gg


def test_another_master_id_numbering_gives_the_same_sample_and_the_same_fit(synthetic):
    """Master ids are numbered per warehouse: a warehouse refreshed month by month and a fresh
    one can give the same customer other ids. Customers are ordered and sampled by their
    smallest source id, so both fit the same models (the sample is below the population here,
    as at 1M orders, where keying it on master ids made every prediction differ)."""
    con, src = synthetic
    ids = [r[0] for r in con.execute(f"select distinct customer_id from {src.orders}").fetchall()]
    fits = []
    for numbering in (sorted(ids), sorted(ids, reverse=True)):
        # Customer i's records are 'S<i>a' and 'S<i>b'; its master id is the i-th of `numbering`.
        master = dict(zip(sorted(ids), numbering, strict=True))
        con.execute("drop schema if exists renumbered cascade")
        con.execute("create schema renumbered")
        con.execute(
            f"create table renumbered.orders as select * replace (m.master as customer_id) "
            f"from {src.orders} o join (select unnest(?) as id, unnest(?) as master) m "
            f"on m.id = o.customer_id",
            [list(master), list(master.values())],
        )
        con.execute(
            "create table renumbered.identity_map as "
            "select 'S' || id || suffix as source_customer_id, master as customer_id "
            "from (select unnest(?) as id, unnest(?) as master), (values ('a'), ('b')) s(suffix)",
            [list(master), list(master.values())],
        )
        renumbered = Sources("renumbered.orders", src.refunds, identity="renumbered.identity_map")
        features = challenger_features(con, renumbered, END)
        sample = models.sample_customers(features, 1000)
        assert len(sample) == 1000 < len(features)
        fits.append((list(sample["sample_key"]), btyd.fit_bgnbd(sample).params))
    assert fits[0][0] == fits[1][0]
    assert fits[0][1] == fits[1][1]


def test_cdnow_sample_gives_the_published_bgnbd_parameters(cdnow_calibration):
    """Fader, Hardie & Lee (2005), CDNOW 1/10 sample, weeks 1-39: r 0.243, alpha 4.414,
    a 0.793, b 2.426. Our SQL summary + the maximum likelihood fit reproduce them, and
    the MLE's forecast of weeks 40-78."""
    con, src, summary = cdnow_calibration
    assert len(summary) == 2357
    assert int(summary["x"].sum()) == 2457  # repeat purchases in the calibration period
    fitted = btyd.fit_bgnbd(summary)
    params = fitted.params
    for fitted_value, published in (
        (params.r, 0.243),
        (params.alpha, 4.414),
        (params.a, 0.793),
        (params.b, 2.426),
    ):
        assert _relative_error(fitted_value, published) < 0.01, params
    # Weeks 40-78 (273 days): the conditional expectation of the MLE summed over the customers
    # is 1,653.4 purchase days (lifetimes' BetaGeoFitter on this summary, computed apart; 1,653.9
    # with the published rounded parameters) against 1,882 that happened. The ~12%
    # under-forecast of the benchmark is the model's on this split, not an error of the horizon
    # (days -> weeks) or of the holdout count (issue 18, docs/predictions.md).
    predicted = fitted.expected_purchases(summary, 273).sum()
    assert _relative_error(predicted, 1653.4) < 0.005, predicted
    actual = models._purchases_for(con, src, summary, CDNOW_CALIBRATION_END, dt.date(1998, 6, 30))
    assert int(actual.sum()) == 1882


def _library_bgnbd(summary: pd.DataFrame, modified: bool):
    """pymc-marketing's (M)BG/NBD fitted by MAP with flat priors: the reference implementation."""
    from pymc_extras.prior import Prior
    from pymc_marketing.clv import BetaGeoModel, ModifiedBetaGeoModel

    flat = {name: Prior("HalfFlat") for name in ("r", "alpha", "a", "b")}
    model = (ModifiedBetaGeoModel if modified else BetaGeoModel)(model_config=flat)
    model.fit(btyd.bgnbd_frame(summary), method="map", progressbar=False)
    params = btyd.BgNbdParams(
        **{k: float(np.asarray(model.fit_result[k]).ravel()[0]) for k in ("r", "alpha", "a", "b")}
    )
    return model, params


def _log_likelihood(summary: pd.DataFrame, params: btyd.BgNbdParams, modified: bool) -> float:
    x, t_x, T = btyd._weeks(summary)
    log_params = np.log([params.r, params.alpha, params.a, params.b])
    return btyd.bgnbd_log_likelihood(log_params, x, t_x, T, modified)[0]


@pytest.mark.parametrize("modified", [False, True], ids=["bg_nbd", "mbg_nbd"])
@pytest.mark.parametrize("data", ["cdnow", "synthetic"])
def test_the_fit_and_the_predictions_equal_pymc_marketings(
    data, modified, cdnow_calibration, synthetic
):
    """pymc-marketing is the reference: its MAP with flat priors is the maximum likelihood, found
    by the same optimiser from the same start. Our estimate has its parameters (1e-6; they
    differed by 1e-4 with tighter tolerances, which can also walk off to another optimum, see
    `btyd._maximise`), and at its parameters our formulas give its P(alive), expected purchases
    and, for repeat buyers (where the library defines it), P(no purchase)."""
    if data == "cdnow":
        summary = cdnow_calibration[2]
    else:
        con, src = synthetic
        summary = purchase_summary(con, src, END)
    library, reference = _library_bgnbd(summary, modified)
    ours = btyd.fit_bgnbd(summary, modified=modified)
    for name, value in reference.__dict__.items():
        assert _relative_error(getattr(ours.params, name), value) < 1e-6, (ours.params, reference)
    gain = _log_likelihood(summary, ours.params, modified) - _log_likelihood(
        summary, reference, modified
    )
    assert abs(gain) < 1e-4, gain

    at_reference = btyd.FittedBgNbd(reference, modified)
    frame = btyd.bgnbd_frame(summary)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = library.expected_purchases(data=frame, future_t=273 / btyd.DAYS_PER_WEEK)
        alive = library.expected_probability_alive(data=frame)
    np.testing.assert_allclose(
        at_reference.expected_purchases(summary, 273), np.asarray(expected).reshape(-1), rtol=1e-9
    )
    np.testing.assert_allclose(
        at_reference.probability_alive(summary), np.asarray(alive).reshape(-1), rtol=1e-9
    )
    if modified:
        return
    repeat = summary[summary["x"] > 0].head(300)
    p_alive = at_reference.probability_alive(repeat)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        silent = library.expected_probability_no_purchase(
            t=180 / btyd.DAYS_PER_WEEK, data=btyd.bgnbd_frame(repeat)
        )
    np.testing.assert_allclose(
        at_reference.probability_no_purchase(repeat, p_alive, 180),
        np.asarray(silent).reshape(-1),
        rtol=1e-6,
        atol=1e-9,
    )


def test_gamma_gamma_fit_and_spend_equal_pymc_marketings(synthetic):
    """Gamma-Gamma against pymc-marketing's GammaGammaModel (flat priors by default)."""
    from pymc_marketing.clv import GammaGammaModel

    con, src = synthetic
    summary = purchase_summary(con, src, END)
    frame = btyd.gamma_gamma_frame(summary)
    fitted_on = frame[(frame["frequency"] >= 2) & (frame["monetary_value"] > 0)]
    library = GammaGammaModel()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        library.fit(fitted_on.reset_index(drop=True), method="map", progressbar=False)
        spend = library.expected_customer_spend(data=frame)
    reference = btyd.GammaGammaParams(
        **{k: float(np.asarray(library.fit_result[k]).ravel()[0]) for k in ("p", "q", "v")}
    )
    ours = btyd.fit_gamma_gamma(summary).params
    for name, value in reference.__dict__.items():
        assert _relative_error(getattr(ours, name), value) < 1e-6, (ours, reference)
    np.testing.assert_allclose(
        btyd.FittedGammaGamma(reference).expected_order_value(summary),
        np.asarray(spend).reshape(-1) * btyd.net_ratio(summary),
        rtol=1e-9,
    )


def _customers(rows: list[tuple[str, int, int, int, float, float]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["customer_id", "x", "t_x", "T", "gross", "refunds"])


def test_a_weekly_buyer_until_last_week_is_more_alive_than_one_silent_for_two_years(synthetic):
    con, src = synthetic
    summary = purchase_summary(con, src, END)
    weekly = ("weekly", 103, 721, 728, 5000.0, 0.0)  # bought every week, last one 7 days ago
    silent_repeat = ("silent_repeat", 10, 70, 800, 500.0, 0.0)  # weekly, then 2 years silent
    silent_once = ("silent_once", 0, 0, 730, 50.0, 0.0)  # one order two years ago
    people = _customers([weekly, silent_repeat, silent_once])
    mbg = btyd.fit_bgnbd(summary, modified=True)
    alive = dict(zip(people["customer_id"], mbg.probability_alive(people), strict=True))
    assert alive["weekly"] > 0.9
    assert alive["weekly"] > alive["silent_repeat"] + 0.5
    assert alive["weekly"] > alive["silent_once"]
    # Plain BG/NBD cannot tell a one-time buyer's silence: P(alive) = 1 by construction,
    # which is why customer_predictions takes P(alive) from MBG/NBD.
    bg = btyd.fit_bgnbd(summary)
    assert bg.probability_alive(people)[2] == pytest.approx(1.0)
    assert bg.probability_alive(people)[1] < 0.1


def test_single_order_refund_heavy_and_zero_tenure_customers_get_defined_predictions(synthetic):
    con, src = synthetic
    extra = pd.DataFrame(
        {
            "customer_id": ["ONCE", "REFUNDER", "REFUNDER", "TODAY"],
            "order_id": ["X1", "X2", "X3", "X4"],
            "order_date": [dt.date(2023, 3, 1), dt.date(2024, 2, 1), dt.date(2024, 6, 1), END],
            "amount": [40.0, 100.0, 60.0, 75.0],
        }
    )
    refunds = pd.DataFrame(  # more refunded than bought, one refund without order id
        {"customer_id": ["REFUNDER", "REFUNDER"], "refunded_at": [END, END], "amount": [160, 30]}
    )
    base = con.execute(f"select * from {src.orders}").df()
    con2 = duckdb.connect()
    src2 = Sources(*load_transactions(con2, pd.concat([base, extra], ignore_index=True), refunds))
    result = models.predict(
        con2,
        src2,
        END,
        pd.Series(["ONCE", "REFUNDER", "TODAY", "C0000001"]),
        model=models.MBG_NBD,
        horizon=365,
        churn_days=180,
        discount_rate=0.1,
        sample=100_000,
    ).frame.set_index("customer_id")
    numeric = result.select_dtypes("number")
    assert not numeric.isna().any().any(), result
    assert np.isfinite(numeric.to_numpy()).all()
    assert result.loc["REFUNDER", "expected_order_value"] == 0.0
    assert result.loc["REFUNDER", "predicted_clv"] == 0.0
    assert result.loc["ONCE", "expected_order_value"] > 0
    assert 0 < result.loc["ONCE", "p_alive"] < 1
    # Bought for the first time on the as-of date: a new customer, expected to buy again, and
    # more likely alive than the one-time buyer silent since 2023.
    assert result.loc["TODAY", "expected_orders"] > result.loc["ONCE", "expected_orders"]
    assert result.loc["ONCE", "p_alive"] < result.loc["TODAY", "p_alive"] <= 1
    assert ((numeric["churn_probability"] >= 0) & (numeric["churn_probability"] <= 1)).all()
    # Discounting at 10%/year lowers CLV below orders x value.
    once = result.loc["ONCE"]
    assert once["predicted_clv"] < once["expected_orders"] * once["expected_order_value"]


def test_the_naive_rate_is_repeat_purchases_over_tenure_and_zero_without_tenure():
    people = _customers([("a", 4, 300, 400, 1.0, 0.0), ("b", 0, 0, 0, 1.0, 0.0)])
    forecast = models.naive_forecast(people, 365, 180)
    assert forecast.expected_purchases.tolist() == pytest.approx([4 / 400 * 365, 0.0])
    assert forecast.churn_probability.tolist() == pytest.approx([np.exp(-4 / 400 * 180), 1.0])


def test_the_winner_has_the_lowest_mae_among_models_within_10_percent_on_total():
    scores = [
        models.Score(models.NAIVE_RATE, mae_orders=0.1, ratio=1.0),
        models.Score(models.BG_NBD, mae_orders=0.8, ratio=1.05),
        models.Score(models.MBG_NBD, mae_orders=0.9, ratio=0.98),
        models.Score(models.GRADIENT_BOOSTING, mae_orders=0.7, ratio=0.7),
    ]
    assert models.choose_winner(scores) == models.BG_NBD
    scores[1].ratio = 1.3
    scores[2].ratio = 1.2
    assert models.choose_winner(scores) == models.GRADIENT_BOOSTING
    assert models.choose_winner([models.Score(models.BG_NBD, status="not fitted")]) == (
        models.MBG_NBD
    )


def test_the_holdout_scores_every_candidate_on_purchases_after_the_cutoff(synthetic):
    con, src = synthetic
    evaluation = models.evaluate_candidates(con, src, END, 365, 180, 100_000)
    assert evaluation.calibration_end == dt.date(2024, 1, 2)
    by_model = {s.model: s for s in evaluation.scores}
    assert set(by_model) == {*models.CONTENDERS, models.NAIVE_RATE}
    actual = con.execute(
        f"select count(distinct (customer_id, order_date)) from {src.orders} "
        "where order_date > date '2024-01-02' and order_date <= date '2025-01-01' "
        "and customer_id in (select customer_id from "
        f"{src.orders} where order_date <= date '2024-01-02')"
    ).fetchone()[0]
    for score in by_model.values():
        assert score.status == "ok", score
        assert score.actual_orders == actual
        assert score.calibration["customers"].sum() == score.customers
    # Data drawn from BG/NBD: BG/NBD beats the naive rate and gets the total right.
    assert by_model[models.BG_NBD].mae_orders < by_model[models.NAIVE_RATE].mae_orders
    assert abs(by_model[models.BG_NBD].ratio - 1) < 0.1
    frame = evaluation.frame(END)
    assert (frame.loc[frame["model"] == evaluation.winner, "role"] == "selected").all()
    assert frame["decile"].isna().sum() == 4


# --- clusters ---------------------------------------------------------------------------


def _behaviour(groups: dict[str, int], seed: int = 0) -> pd.DataFrame:
    """Scored customers in well-separated behaviour groups (ids prefixed by group)."""
    rng = np.random.default_rng(seed)
    spec = {  # recency, frequency, basket, promo, returns, tickets/order, web share, mode share
        "champions": (20, 25, 120, 0.05, 0.03, 0.05, 0.8, 0.7),
        "one_off": (500, 1, 45, 0.6, 0.05, 0.1, 0.5, 0.2),
        "store_regulars": (60, 8, 70, 0.1, 0.05, 0.05, 0.05, 0.4),
        "returners": (90, 6, 90, 0.2, 0.7, 1.5, 0.9, 0.8),
    }
    frames = []
    for name, n in groups.items():
        rec, freq, basket, promo, ret, tick, web, mode = spec[name]
        frequency = np.maximum(rng.poisson(freq, n), 1)
        basket_values = basket * np.exp(0.2 * rng.standard_normal(n))
        web_share = np.clip(web + 0.05 * rng.standard_normal(n), 0, 1)
        mode_share = np.clip(mode + 0.05 * rng.standard_normal(n), 0, 1)
        frames.append(
            pd.DataFrame(
                {
                    "customer_id": [f"{name}-{i:05d}" for i in range(n)],
                    "segment": name,
                    "recency_days": np.maximum(rec * np.exp(0.2 * rng.standard_normal(n)), 0),
                    "frequency": frequency,
                    "monetary": frequency * basket_values,
                    "avg_basket": basket_values,
                    "promo_order_share": np.clip(promo + 0.05 * rng.standard_normal(n), 0, 1),
                    "return_rate": np.clip(ret + 0.05 * rng.standard_normal(n), 0, 1),
                    "tickets_per_order": np.maximum(tick + 0.05 * rng.standard_normal(n), 0),
                    "category_share__mode": mode_share,
                    "category_share__other": 1 - mode_share,
                    "channel_share__web": web_share,
                    "channel_share__store": 1 - web_share,
                }
            )
        )
    raw = pd.concat(frames, ignore_index=True).sort_values("customer_id", ignore_index=True)
    return raw.assign(sample_key=raw["customer_id"])  # as cluster_inputs without identity map


def _run(raw, previous=None):
    return clustering.cluster(raw, k_min=3, k_max=6, sample=5_000, previous=previous)


def _drift(result, raw, previous_result=None, previous_raw=None):
    assignments = (
        pd.DataFrame(
            {"customer_id": previous_raw["customer_id"], "cluster_id": previous_result.labels}
        )
        if previous_result is not None
        else None
    )
    return clustering.measure_drift(
        result,
        raw["customer_id"],
        dt.date(2026, 10, 1),
        dt.date(2026, 7, 1) if previous_result is not None else None,
        assignments,
        previous_result.k if previous_result is not None else None,
        min_ari=0.6,
        max_shift=0.5,
    )


def test_clusters_recover_planted_groups_with_ids_by_size():
    raw = _behaviour({"champions": 300, "one_off": 900, "store_regulars": 500})
    result = _run(raw)
    assert result.k == 3
    by_group = pd.crosstab(raw["segment"], result.labels)
    assert (by_group.max(axis=1) == by_group.sum(axis=1)).all()  # each group in one cluster
    sizes = pd.Series(result.labels).value_counts()
    assert sizes.index.tolist() == [1, 2, 3]  # id 1 = largest on a first clustering


def test_cluster_labels_are_identical_when_the_same_data_is_refreshed_twice():
    raw = _behaviour({"champions": 300, "one_off": 900, "store_regulars": 500})
    first = _run(raw)
    second = _run(raw, previous=first.centroids)
    np.testing.assert_array_equal(first.labels, second.labels)
    # The same customers in another row order (another export): same ids per customer.
    shuffled = raw.sample(frac=1.0, random_state=1).reset_index(drop=True)
    third = _run(shuffled, previous=first.centroids)
    expected = dict(zip(raw["customer_id"], first.labels, strict=True))
    assert [expected[c] for c in shuffled["customer_id"]] == third.labels.tolist()
    drift = _drift(second, raw, first, raw)
    assert drift.adjusted_rand_index == pytest.approx(1.0)
    assert not drift.drift_detected
    assert drift.new_clusters == [] and drift.vanished_clusters == []


def test_a_planted_new_behaviour_group_appears_as_drift():
    before_raw = _behaviour({"champions": 300, "one_off": 900, "store_regulars": 500})
    before = _run(before_raw)
    after_raw = _behaviour(
        {"champions": 300, "one_off": 900, "store_regulars": 500, "returners": 400}, seed=1
    )
    after = _run(after_raw, previous=before.centroids)
    drift = _drift(after, after_raw, before, before_raw)
    assert drift.drift_detected
    assert after.k == 4
    assert len(after.new_clusters) == 1
    new_id = after.new_clusters[0]
    returners = after.labels[after_raw["segment"].eq("returners").to_numpy()]
    assert (returners == new_id).mean() > 0.95
    # The groups that were there keep their ids.
    for group in ("champions", "one_off", "store_regulars"):
        old = before.labels[before_raw["segment"].eq(group).to_numpy()][0]
        assert (after.labels[after_raw["segment"].eq(group).to_numpy()] == old).all()
    assert "new clusters" in drift.verdict()
    assert "may no longer describe" in drift.verdict()


def test_persona_words_name_the_distinctive_traits():
    raw = _behaviour({"champions": 300, "one_off": 900, "returners": 300})
    result = _run(raw)
    labels = pd.Series(result.labels, index=raw["segment"].to_numpy())
    returners = labels.loc["returners"].iloc[0]
    words = clustering.persona_label(result.centroids.loc[returners], result.scaler)
    assert "heavy returners" in words
