"""Report section "Outlook": predicted revenue per segment, churn risk, clusters and drift.

Self-contained (its own queries, words and template `sections/outlook.html.j2`): the report's
section registry (`render.SECTIONS`) only has one entry for it. It reads the predictions
domain's marts and returns None when they are absent (a warehouse built before them).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import duckdb
from markupsafe import Markup

from pipeline.lib.sql import table_exists
from pipeline.report import svg
from pipeline.report.data import num
from pipeline.report.i18n import Formatter, Translator

WORDS: dict[str, dict[str, str]] = {
    "fr": {
        "revenue_caption": "Chiffre d'affaires net attendu par segment sur les {days} prochains "
        "jours (modèle : {model}).",
        "segment": "Segment",
        "customers": "Clients",
        "expected_revenue": "CA attendu",
        "avg_p_alive": "P(actif) moyenne",
        "share_at_risk": "Part à risque",
        "risk_caption": "Répartition des clients par probabilité de ne pas commander dans les "
        "{days} prochains jours.",
        "band": "Probabilité d'attrition",
        "clusters_caption": "Groupes de comportement trouvés par k-means (k = {k}, silhouette "
        "{silhouette}) à côté des segments RFM qu'ils recouvrent.",
        "cluster": "Groupe",
        "persona": "Traits",
        "share": "Part",
        "revenue": "CA",
        "rfm_segment": "Segment RFM principal",
        "top": "Catégorie / canal",
        "drift_ok": "Structure stable",
        "drift_warn": "La structure de la clientèle a changé : les segments RFM ne décrivent "
        "peut-être plus la base.",
        "drift_first": "Premier regroupement : pas encore de comparaison.",
        "evaluation": "Modèle choisi sur un test temporel ({start} → {end}) : {model}. Erreur "
        "absolue moyenne des commandes {mae}, prévu/réel {ratio}, score de "
        "Brier {brier} (taux naïf : {naive_mae}).",
    },
    "en": {
        "revenue_caption": "Expected net revenue per segment over the next {days} days (model: "
        "{model}).",
        "segment": "Segment",
        "customers": "Customers",
        "expected_revenue": "Expected revenue",
        "avg_p_alive": "Mean P(alive)",
        "share_at_risk": "Share at risk",
        "risk_caption": "Customers by probability of placing no order in the next {days} days.",
        "band": "Churn probability",
        "clusters_caption": "Behaviour clusters found by k-means (k = {k}, "
        "silhouette {silhouette}) next to the RFM segments they overlap.",
        "cluster": "Cluster",
        "persona": "Traits",
        "share": "Share",
        "revenue": "Revenue",
        "rfm_segment": "Main RFM segment",
        "top": "Category / channel",
        "drift_ok": "Stable structure",
        "drift_warn": "The shape of the customer base changed: the RFM segments may no longer "
        "describe the base.",
        "drift_first": "First clustering: nothing to compare with yet.",
        "evaluation": "Model chosen on a temporal holdout ({start} → {end}): {model}. Mean "
        "absolute error of orders {mae}, predicted/actual {ratio}, Brier score "
        "{brier} (naive rate: {naive_mae}).",
    },
}


def outlook_context(
    con: duckdb.DuckDBPyConnection, segment_label: Callable[[object], str]
) -> dict[str, Any] | None:
    """Everything the section shows, read from the marts (the report aggregates nothing
    itself); None without the prediction marts."""
    needed = (
        "segment_predictions",
        "customer_predictions",
        "churn_risk_bands",
        "cluster_profiles",
        "cluster_drift",
    )
    if not all(table_exists(con, "marts", t) for t in needed):
        return None
    segments = con.execute(
        "select segment, customers, expected_revenue, avg_p_alive, share_at_risk, horizon_days "
        "from marts.segment_predictions order by priority, segment"
    ).df()
    # Every row of a refresh carries the same model and churn window: read one.
    first = con.execute("select model from marts.customer_predictions limit 1").fetchone()
    model = first[0] if first else None
    window = (
        con.execute("select churn_window_days from marts.prediction_evaluation limit 1").fetchone()
        if table_exists(con, "marts", "prediction_evaluation")
        else None
    )
    churn_days = window[0] if window else None
    bands = [
        (f"{low:.0%}–{high:.0%}", num(share) or 0.0, int(customers))
        for low, high, customers, share in con.execute(
            "select band_low, band_high, customers, share from marts.churn_risk_bands order by band"
        ).fetchall()
    ]
    clusters = con.execute("select * from marts.cluster_profiles order by cluster_id").df()
    drift = con.execute("select * from marts.cluster_drift order by as_of desc limit 1").df()
    evaluation = None
    if table_exists(con, "marts", "prediction_evaluation"):
        rows = con.execute(
            "select model, role, calibration_end, holdout_end, mae_orders, "
            "predicted_actual_ratio, brier_churn from marts.prediction_evaluation "
            "where decile is null"
        ).df()
        selected = rows[rows.role == "selected"]
        naive = rows[rows.role == "baseline"]
        if len(selected):
            evaluation = {
                "row": selected.iloc[0],
                "naive_mae": num(naive.iloc[0].mae_orders) if len(naive) else None,
            }
    return {
        "segments": [
            r | {"label": segment_label(r["segment"])} for r in segments.to_dict("records")
        ],
        "horizon": int(segments["horizon_days"].iloc[0]) if len(segments) else 0,
        "churn_days": int(churn_days) if churn_days is not None else 0,
        "model": model,
        "bands": bands,
        "clusters": clusters.to_dict("records"),
        "drift": drift.iloc[0].to_dict() if len(drift) else None,
        "evaluation": evaluation,
    }


def section_context(
    con: duckdb.DuckDBPyConnection,
    language: str,
    f: Formatter,
    segment_label: Callable[[object], str],
    codes: Translator,
) -> dict[str, Any] | None:
    """The template context of the section, or None when there is nothing to show.

    Segments, categories, channels and the clusters' trait words are printed through the
    report's translations, like every other code of the report.
    """
    context = outlook_context(con, segment_label)
    if context is None:
        return None
    words = WORDS.get(language, WORDS["en"])
    chart = svg.hbar_chart(
        "churn-risk",
        words["risk_caption"].format(days=context["churn_days"]),
        [(label, share, f"{f.number(n)} · {f.pct(share)}") for label, share, n in context["bands"]],
        svg.color_for(3),
    )
    drift = context["drift"]
    if drift is None or str(drift.get("previous_as_of")) in ("NaT", "None", "<NA>", "nan"):
        verdict, state = words["drift_first"], "first"
    elif bool(drift["drift_detected"]):
        verdict, state = f"{words['drift_warn']} ({drift['verdict']})", "drift"
    else:
        verdict, state = words["drift_ok"] + f" ({drift['verdict']})", "stable"
    evaluation_text = None
    if context["evaluation"] is not None:
        row = context["evaluation"]["row"]
        evaluation_text = words["evaluation"].format(
            start=str(row.calibration_end)[:10],
            end=str(row.holdout_end)[:10],
            model=row.model,
            mae=f.number(num(row.mae_orders), 2),
            ratio=f.number(num(row.predicted_actual_ratio), 2),
            brier=f.number(num(row.brier_churn), 3),
            naive_mae=f.number(context["evaluation"]["naive_mae"], 2),
        )

    def label(domain: str, code: object) -> str:
        return codes.code(domain, code) if code else ""

    clusters = [
        c
        | {
            "category_label": label("category", c.get("top_category")),
            "channel_label": label("channel", c.get("top_channel")),
            "rfm_segment_label": segment_label(c["top_rfm_segment"]),
            "traits": ", ".join(
                codes.code("trait", word) for word in str(c.get("persona") or "").split(", ")
            ),
        }
        for c in context["clusters"]
    ]
    return {
        "w": words,
        "segments": context["segments"],
        "clusters": clusters,
        "chart": Markup(chart),
        "verdict": verdict,
        "state": state,
        "evaluation_text": evaluation_text,
        "revenue_caption": words["revenue_caption"].format(
            days=context["horizon"], model=context["model"]
        ),
        "clusters_caption": words["clusters_caption"].format(
            k=int(drift["k"]) if drift is not None else len(context["clusters"]),
            silhouette=f.number(num(drift["silhouette"]) if drift is not None else None, 2),
        ),
    }
