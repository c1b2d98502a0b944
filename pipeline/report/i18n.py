"""UI strings of the insight report, per language, and locale-aware number formatting.

Segment labels are data (the segments seed's label_fr / label_en); only the report's own words
live here, so adding a language is one dict plus the seed column.
"""

from __future__ import annotations

import math

from pipeline.lib.settings import ReportSection

#: The default of the `report.language` setting (declared once, in pipeline/lib/settings.py).
DEFAULT_LANGUAGE = ReportSection.model_fields["language"].default

STRINGS: dict[str, dict[str, str]] = {
    "fr": {
        "title": "Rapport de segmentation clients",
        "as_of": "Situation au",
        "generated": "Généré le",
        "trigger": "Déclenché par",
        "trigger_threshold": "seuil",
        "trigger_cli": "la ligne de commande (segments refresh)",
        "trigger_schedule": "le calendrier de rafraîchissement",
        "trigger_new_data": "de nouveaux exports",
        "trigger_kpi_drop": "une baisse d'indicateur",
        "trigger_business_event": "un événement métier",
        "trigger_backfill": "un rattrapage d'historique",
        "trigger_manual": "un lancement manuel",
        "toc": "Sommaire",
        "s1": "Chiffres clés et évolutions",
        "s2": "Taille et chiffre d'affaires des segments",
        "s3": "Grille Récence × Fréquence",
        "s4": "Rétention par cohorte et saisonnalité d'acquisition",
        "s5": "Migrations entre segments",
        "s6": "Indicateurs par segment",
        "s7": "Liste d'exclusion des campagnes",
        "s8": "Personas",
        "s9": "Grille de priorités",
        "first_refresh": "Premier rafraîchissement : aucune comparaison possible pour l'instant.",
        "since": "depuis le",
        "customers": "Clients",
        "revenue": "Chiffre d'affaires",
        "avg_basket": "Panier moyen",
        "avg_frequency": "Fréquence moyenne",
        "avg_recency": "Récence moyenne (jours)",
        "nps": "NPS",
        "nps_responses": "Réponses NPS",
        "churn_rate": "Taux d'attrition",
        "return_rate": "Taux de retour",
        "tickets": "Tickets support / client",
        "segment": "Segment",
        "share": "Part clients",
        "revenue_share": "Part du CA",
        "customer_share_chart": "Part des clients par segment",
        "revenue_share_chart": "Part du chiffre d'affaires par segment",
        "rf_caption": "Chaque case : nombre de clients et montant moyen (R = récence, F = "
        "fréquence, 5 = meilleur).",
        "recency_score": "Score R",
        "frequency_score": "Score F",
        "cohort": "Cohorte",
        "period": "Période depuis l'acquisition",
        "retention_caption": "Part des clients de la cohorte actifs à chaque période.",
        "season_caption": "Valeur client cumulée (CLV) des cohortes de janvier et de juillet.",
        "months": "mois",
        "clv_at": "CLV à",
        "no_data": "Pas de données.",
        "migration_caption": "Clients passés d'un segment (ligne) à un autre (colonne) entre "
        "les deux derniers rafraîchissements.",
        "from": "De",
        "to": "Vers",
        "new": "(nouveau)",
        "lost": "(sorti)",
        "trend": "Tendance",
        "kpi_caption": "Valeur actuelle et évolution sur les rafraîchissements passés.",
        "excluded_customers": "Clients exclus",
        "revenue_at_stake": "CA concerné",
        "reason": "Motif",
        "size_value": "Taille et valeur",
        "median_recency": "Récence médiane",
        "median_frequency": "Fréquence médiane",
        "median_basket": "Panier médian",
        "days": "jours",
        "orders": "commandes",
        "fav_categories": "Catégories préférées",
        "fav_channels": "Canaux préférés",
        "acq_season": "Saison d'acquisition",
        "regions": "Régions",
        "age_bands": "Tranches d'âge",
        "known_for": "connu pour",
        "of_customers": "des clients",
        "action": "Action recommandée",
        "tone": "Ton du message",
        "unknown": "inconnu",
        "priority_caption": "Taille (axe horizontal), valeur moyenne (axe vertical), CA (aire) "
        "et tendance (couleur). Agir d'abord en haut du tableau.",
        "act_rank": "Ordre d'action",
        "value": "Valeur (CA)",
        "size": "Taille",
        "growing": "en hausse",
        "shrinking": "en baisse",
        "stable": "stable",
        "no_trend": "premier rafraîchissement",
        "winter": "hiver",
        "spring": "printemps",
        "summer": "été",
        "autumn": "automne",
        "tone_reward": "Reconnaissance et exclusivité : remercier, donner un accès en avant-"
        "première, pas de remise.",
        "tone_nurture": "Accueil et accompagnement : faire découvrir la gamme, conseiller.",
        "tone_winback": "Personnel et urgent : « vous nous manquez », offre ciblée.",
        "tone_light": "Léger et peu fréquent : rappel saisonnier, offre incitative simple.",
        "footer": "Rapport statique généré par le pipeline de segmentation ; aucune donnée "
        "personnelle n'y figure (agrégats uniquement).",
    },
    "en": {
        "title": "Customer segmentation report",
        "as_of": "As of",
        "generated": "Generated on",
        "trigger": "Triggered by",
        "trigger_threshold": "threshold",
        "trigger_cli": "the command line (segments refresh)",
        "trigger_schedule": "the refresh schedule",
        "trigger_new_data": "new exports",
        "trigger_kpi_drop": "a KPI drop",
        "trigger_business_event": "a business event",
        "trigger_backfill": "a history backfill",
        "trigger_manual": "a manual launch",
        "toc": "Contents",
        "s1": "Headline numbers and changes",
        "s2": "Segment sizes and revenue",
        "s3": "Recency × Frequency grid",
        "s4": "Cohort retention and acquisition seasonality",
        "s5": "Segment migrations",
        "s6": "KPIs per segment",
        "s7": "Campaign exclusion list",
        "s8": "Personas",
        "s9": "Priority grid",
        "first_refresh": "First refresh: nothing to compare with yet.",
        "since": "since",
        "customers": "Customers",
        "revenue": "Revenue",
        "avg_basket": "Average basket",
        "avg_frequency": "Average frequency",
        "avg_recency": "Average recency (days)",
        "nps": "NPS",
        "nps_responses": "NPS responses",
        "churn_rate": "Churn rate",
        "return_rate": "Return rate",
        "tickets": "Support tickets / customer",
        "segment": "Segment",
        "share": "Customer share",
        "revenue_share": "Revenue share",
        "customer_share_chart": "Share of customers per segment",
        "revenue_share_chart": "Share of revenue per segment",
        "rf_caption": "Each cell: number of customers and average monetary value (R = recency, "
        "F = frequency, 5 = best).",
        "recency_score": "R score",
        "frequency_score": "F score",
        "cohort": "Cohort",
        "period": "Periods since acquisition",
        "retention_caption": "Share of the cohort's customers active in each period.",
        "season_caption": "Cumulative customer value (CLV) of the January and July cohorts.",
        "months": "months",
        "clv_at": "CLV at",
        "no_data": "No data.",
        "migration_caption": "Customers who moved from one segment (row) to another (column) "
        "between the last two refreshes.",
        "from": "From",
        "to": "To",
        "new": "(new)",
        "lost": "(left)",
        "trend": "Trend",
        "kpi_caption": "Current value and trend over past refreshes.",
        "excluded_customers": "Excluded customers",
        "revenue_at_stake": "Revenue at stake",
        "reason": "Reason",
        "size_value": "Size and value",
        "median_recency": "Median recency",
        "median_frequency": "Median frequency",
        "median_basket": "Median basket",
        "days": "days",
        "orders": "orders",
        "fav_categories": "Favourite categories",
        "fav_channels": "Favourite channels",
        "acq_season": "Acquisition season",
        "regions": "Regions",
        "age_bands": "Age bands",
        "known_for": "known for",
        "of_customers": "of customers",
        "action": "Recommended action",
        "tone": "Tone of message",
        "unknown": "unknown",
        "priority_caption": "Size (horizontal), average value (vertical), revenue (area) and "
        "trend (colour). Act first at the top of the table.",
        "act_rank": "Act-first rank",
        "value": "Value (revenue)",
        "size": "Size",
        "growing": "growing",
        "shrinking": "shrinking",
        "stable": "stable",
        "no_trend": "first refresh",
        "winter": "winter",
        "spring": "spring",
        "summer": "summer",
        "autumn": "autumn",
        "tone_reward": "Recognition and exclusivity: thank them, early access, no discount.",
        "tone_nurture": "Welcoming and helpful: introduce the range, give advice.",
        "tone_winback": 'Personal and urgent: "we miss you", a targeted offer.',
        "tone_light": "Light and infrequent: seasonal reminder, a simple incentive.",
        "footer": "Static report generated by the segmentation pipeline; it holds no personal "
        "data (aggregates only).",
    },
}


def strings(language: str) -> dict[str, str]:
    """The UI strings of a language; unknown languages are an error, not a silent fallback."""
    try:
        return STRINGS[language]
    except KeyError as exc:
        known = sorted(STRINGS)
        raise ValueError(f"report language must be one of {known}, got {language!r}") from exc


class Formatter:
    """Numbers, money and percentages written the way readers of a language expect.

    French: "1 234,5" with a narrow no-break space and "12,3 %"; English: "1,234.5" and "12.3%".
    """

    def __init__(self, language: str, currency: str = "EUR") -> None:
        self.language = language
        self.currency = currency
        self.symbol = {"EUR": "€", "USD": "$", "GBP": "£"}.get(currency, currency)

    def number(self, value: float | int | None, decimals: int = 0) -> str:
        """A grouped number; '–' for missing values (NULL or NaN)."""
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return "–"
        text = f"{value:,.{decimals}f}"
        if self.language == "fr":
            # Python groups with ',' and uses '.': swap to the French convention.
            text = text.replace(",", "\u202f").replace(".", ",")
        return text

    def money(self, value: float | int | None, decimals: int = 0) -> str:
        """An amount with the currency symbol placed as the language does."""
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return "–"
        if self.language == "fr":
            return f"{self.number(value, decimals)}\u00a0{self.symbol}"
        return f"{self.symbol}{self.number(value, decimals)}"

    def pct(self, ratio: float | None, decimals: int = 1) -> str:
        """A ratio (0.123) as a percentage ("12,3 %" / "12.3%")."""
        if ratio is None or (isinstance(ratio, float) and math.isnan(ratio)):
            return "–"
        text = self.number(ratio * 100, decimals)
        return f"{text}\u00a0%" if self.language == "fr" else f"{text}%"

    def signed(self, value: float | None, decimals: int = 0, percent: bool = False) -> str:
        """A change with an explicit sign (+3 / −2,5 %)."""
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return "–"
        body = self.pct(abs(value), decimals) if percent else self.number(abs(value), decimals)
        sign = "+" if value > 0 else ("\u2212" if value < 0 else "±")
        return f"{sign}{body}"
