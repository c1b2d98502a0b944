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
        "sec_headline": "Chiffres clés et évolutions",
        "sec_segments": "Taille et chiffre d'affaires des segments",
        "sec_rf_grid": "Grille Récence × Fréquence",
        "sec_cohorts": "Rétention par cohorte et saisonnalité d'acquisition",
        "sec_migrations": "Migrations entre segments",
        "sec_kpis": "Indicateurs par segment",
        "sec_exclusions": "Liste d'exclusion des campagnes",
        "sec_personas": "Personas",
        "sec_priority": "Grille de priorités",
        "sec_outlook": "Perspectives : valeur prédite, risque d'attrition et segments trouvés "
        "dans les données",
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
        "sec_campaigns": "Campagnes et coût d'acquisition",
        "sec_themes": "Motifs de contact et produits phares",
        "nps_n": "n",
        "too_few_answers": "trop peu de réponses",
        "partial_period_note": "La période en cours, incomplète, n'est pas affichée.",
        "season_figures": "Fréquence d'achat et sensibilité aux promotions des mêmes cohortes "
        "(n = clients observés assez longtemps).",
        "orders_per_customer": "Commandes par client",
        "promo_share": "Part de commandes en promotion",
        "avg_discount": "Remise moyenne par commande",
        "horizon": "Horizon",
        "campaign_caption": "Chaque client contacté compte au plus une fois par campagne, s'il "
        "commande le jour du contact ou dans la fenêtre d'attribution qui suit.",
        "campaign": "Campagne",
        "contacts": "Contacts",
        "contacted": "Clients contactés",
        "converted": "Convertis",
        "conversion_rate": "Taux de conversion",
        "attributed_revenue": "CA attribué",
        "cost": "Coût",
        "cost_per_conversion": "Coût par conversion",
        "window_open": "fenêtre en cours",
        "window_days": "Fenêtre (jours)",
        "cac_caption": "Coût d'acquisition (CAC) par canal : dépenses marketing du mois / "
        "nouveaux clients acquis par ce canal (12 derniers mois complets).",
        "month": "Mois",
        "channel": "Canal",
        "spend": "Dépenses",
        "new_customers": "Nouveaux clients",
        "cac": "CAC",
        "no_campaign": "Aucune campagne ni dépense marketing dans les exports.",
        "themes_caption": "Motifs de contact support les plus fréquents par segment, et indice "
        "par rapport à l'ensemble des clients (×1,0 = comme la moyenne).",
        "products_caption": "Produits phares : meilleures ventes du segment parmi les produits "
        "achetés par assez de clients, avec leur indice par rapport à l'ensemble des clients.",
        "topic": "Motif",
        "tickets_n": "Tickets",
        "index": "Indice",
        "product": "Produit",
        "category": "Catégorie",
        "top_themes": "Motifs de contact",
        "star_products": "Produits phares",
        "top_categories": "Catégories phares",
        "suppressed_note": "Segment trop petit : le détail est masqué pour qu'aucune personne ne "
        "soit identifiable.",
        "promo_order_share": "Part de commandes en promotion",
        "tickets_per_customer_short": "Tickets par client",
        "impact": "Impact (taille, CA, clients actifs)",
        "pertinence": "Pertinence (priorité du référentiel)",
        "score": "Score",
        "grid_cell": "Cellule",
        "priority_grid_caption": "Pertinence (axe vertical, issue du référentiel des segments) et "
        "impact (axe horizontal : part des clients, du CA et des clients encore actifs) ; aire = "
        "nombre de clients, couleur = tendance. Les segments exclus des campagnes prioritaires "
        "sont classés en dernier.",
        "segment_label": "Segment",
        "hidden_cells": "masqué (trop peu de clients par valeur)",
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
        "sec_headline": "Headline numbers and changes",
        "sec_segments": "Segment sizes and revenue",
        "sec_rf_grid": "Recency × Frequency grid",
        "sec_cohorts": "Cohort retention and acquisition seasonality",
        "sec_migrations": "Segment migrations",
        "sec_kpis": "KPIs per segment",
        "sec_exclusions": "Campaign exclusion list",
        "sec_personas": "Personas",
        "sec_priority": "Priority grid",
        "sec_outlook": "Outlook: predicted value, churn risk and segments found in the data",
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
        "sec_campaigns": "Campaigns and acquisition cost",
        "sec_themes": "Contact reasons and star products",
        "nps_n": "n",
        "too_few_answers": "too few answers",
        "partial_period_note": "The current, incomplete period is left out.",
        "season_figures": "Purchase frequency and sensitivity to promotions of the same cohorts "
        "(n = customers observed long enough).",
        "orders_per_customer": "Orders per customer",
        "promo_share": "Share of orders on promotion",
        "avg_discount": "Average discount per order",
        "horizon": "Horizon",
        "campaign_caption": "A contacted customer counts at most once per campaign, when they "
        "order on the contact day or within the attribution window after it.",
        "campaign": "Campaign",
        "contacts": "Contacts",
        "contacted": "Customers contacted",
        "converted": "Converted",
        "conversion_rate": "Conversion rate",
        "attributed_revenue": "Attributed revenue",
        "cost": "Cost",
        "cost_per_conversion": "Cost per conversion",
        "window_open": "window still open",
        "window_days": "Window (days)",
        "cac_caption": "Customer acquisition cost (CAC) per channel: marketing spend of the "
        "month / new customers acquired through that channel (last 12 complete months).",
        "month": "Month",
        "channel": "Channel",
        "spend": "Spend",
        "new_customers": "New customers",
        "cac": "CAC",
        "no_campaign": "No campaign or marketing spend in the exports.",
        "themes_caption": "The reasons customers of each segment contact support for most "
        "often, with their index against all customers (×1.0 = average).",
        "products_caption": "Star products: the segment's best sellers among products bought by "
        "enough customers, with their index against all customers.",
        "topic": "Reason",
        "tickets_n": "Tickets",
        "index": "Index",
        "product": "Product",
        "category": "Category",
        "top_themes": "Contact reasons",
        "star_products": "Star products",
        "top_categories": "Top categories",
        "suppressed_note": "Segment too small: details are hidden so that nobody can be "
        "identified.",
        "promo_order_share": "Share of orders on promotion",
        "tickets_per_customer_short": "Tickets per customer",
        "impact": "Impact (size, revenue, active customers)",
        "pertinence": "Pertinence (segment priority)",
        "score": "Score",
        "grid_cell": "Cell",
        "priority_grid_caption": "Pertinence (vertical, from the segments reference) and impact "
        "(horizontal: share of customers, revenue and still-active customers); area = customers, "
        "colour = trend. Segments kept out of priority campaigns rank last.",
        "segment_label": "Segment",
        "hidden_cells": "hidden (too few customers per value)",
    },
}


#: Labels of the codes the marts write (exclusion reasons, ticket topics, channels, categories,
#: persona values, grid cells...), per language and domain. Every code the report prints goes
#: through `Translator.code`; a code missing here is printed as is (add it here), and the report
#: test fails on any demo code left untranslated.
CODES: dict[str, dict[str, dict[str, str]]] = {
    "fr": {
        "segment": {"All": "Ensemble des clients", "Unscored": "Non segmentés"},
        "reason": {
            "lost_segment": "Segment « Perdus »",
            "serial_returner": "Retours en série",
            "one_time_promo_buyer": "Achat unique en promotion",
            "support_heavy": "Sollicite beaucoup le support",
        },
        "topic": {
            "delivery": "Livraison",
            "product_question": "Question sur un produit",
            "return": "Retour",
            "refund": "Remboursement",
            "account": "Compte client",
            "payment": "Paiement",
            "unspecified": "Non précisé",
        },
        "channel": {
            "web": "Site web",
            "store": "Magasin",
            "app": "Application",
            "phone": "Téléphone",
            "email": "E-mail",
            "sms": "SMS",
            "mail": "Courrier",
            "All": "Tous canaux",
        },
        "category": {
            "mode": "Mode",
            "chaussures": "Chaussures",
            "beaute": "Beauté",
            "maison": "Maison",
            "sport": "Sport",
            "enfants": "Enfants",
            "high-tech": "High-tech",
            "epicerie": "Épicerie",
        },
        "gender": {"female": "Femmes", "male": "Hommes", "other": "Autre"},
        "age_band": {
            "<25": "moins de 25 ans",
            "25-34": "25-34 ans",
            "35-44": "35-44 ans",
            "45-54": "45-54 ans",
            "55-64": "55-64 ans",
            "65+": "65 ans et plus",
        },
        "basket_band": {
            "<30": "moins de 30",
            "30-60": "30 à 60",
            "60-100": "60 à 100",
            "100-200": "100 à 200",
            "200+": "200 et plus",
        },
        "season": {"winter": "hiver", "spring": "printemps", "summer": "été", "autumn": "automne"},
        "promo_sensitivity": {
            "never": "Jamais en promotion",
            "sometimes": "Parfois en promotion",
            "mostly": "Surtout en promotion",
        },
        "return_behaviour": {
            "none": "Aucun retour",
            "some": "Quelques retours",
            "frequent": "Retours fréquents",
        },
        "support_intensity": {
            "none": "Aucun ticket",
            "one": "Un ticket",
            "several": "Plusieurs tickets",
        },
        "nps_group": {
            "promoter": "Promoteurs",
            "passive": "Passifs",
            "detractor": "Détracteurs",
            "no_answer": "Sans réponse",
        },
        "marketing_consent": {"opted_in": "Consentement donné", "opted_out": "Consentement refusé"},
        "grid_cell": {
            "act_first": "Agir en premier",
            "nurture": "Cultiver",
            "maintain": "Entretenir",
            "low_cost": "À bas coût",
            "excluded": "Exclu des campagnes",
            "no_customers": "Sans clients",
        },
        "tone": {
            "reward": "Reconnaissance",
            "nurture": "Accompagnement",
            "winback": "Reconquête",
            "light": "Léger",
        },
        # Traits of the behaviour clusters (cluster_profiles.persona, PERSONA_WORDS of
        # pipeline/predictions/clustering.py).
        "trait": {
            "lapsed": "inactifs depuis longtemps",
            "recent": "achat récent",
            "frequent": "achètent souvent",
            "one-off": "achat unique",
            "high-value": "forte valeur",
            "low-value": "faible valeur",
            "big baskets": "gros paniers",
            "small baskets": "petits paniers",
            "promo-driven": "attirés par les promotions",
            "full-price": "achètent au prix fort",
            "heavy returners": "renvoient beaucoup",
            "keep what they buy": "gardent ce qu'ils achètent",
            "support-heavy": "sollicitent beaucoup le support",
            "self-sufficient": "autonomes",
            "average behaviour": "comportement moyen",
        },
        "attribute": {
            "age_band": "Tranches d'âge",
            "gender": "Genre",
            "region": "Régions",
            "acquisition_channel": "Canal d'acquisition",
            "acquisition_season": "Saison d'acquisition",
            "favourite_channel": "Canaux préférés",
            "favourite_category": "Catégories préférées",
            "basket_band": "Panier moyen",
            "promo_sensitivity": "Sensibilité aux promotions",
            "return_behaviour": "Retours",
            "support_intensity": "Sollicitation du support",
            "nps_group": "Dernière réponse NPS",
            "marketing_consent": "Consentement marketing",
        },
        "*": {"unknown": "inconnu", "other_values": "autres (regroupés)"},
    },
    "en": {
        "segment": {"All": "All customers", "Unscored": "Not segmented"},
        "reason": {
            "lost_segment": "Lost segment",
            "serial_returner": "Serial returner",
            "one_time_promo_buyer": "One-time promotion buyer",
            "support_heavy": "Heavy support user",
        },
        "topic": {
            "delivery": "Delivery",
            "product_question": "Product question",
            "return": "Return",
            "refund": "Refund",
            "account": "Customer account",
            "payment": "Payment",
            "unspecified": "Unspecified",
        },
        "channel": {
            "web": "Website",
            "store": "Store",
            "app": "Mobile app",
            "phone": "Phone",
            "email": "E-mail",
            "sms": "Text message",
            "mail": "Post",
            "All": "All channels",
        },
        "category": {
            "mode": "Fashion",
            "chaussures": "Shoes",
            "beaute": "Beauty",
            "maison": "Home",
            "sport": "Sports",
            "enfants": "Children",
            "high-tech": "Electronics",
            "epicerie": "Grocery",
        },
        "gender": {"female": "Women", "male": "Men", "other": "Other"},
        "age_band": {
            "<25": "under 25",
            "25-34": "25-34",
            "35-44": "35-44",
            "45-54": "45-54",
            "55-64": "55-64",
            "65+": "65 and over",
        },
        "basket_band": {
            "<30": "under 30",
            "30-60": "30 to 60",
            "60-100": "60 to 100",
            "100-200": "100 to 200",
            "200+": "200 and over",
        },
        "season": {"winter": "winter", "spring": "spring", "summer": "summer", "autumn": "autumn"},
        "promo_sensitivity": {
            "never": "Never on promotion",
            "sometimes": "Sometimes on promotion",
            "mostly": "Mostly on promotion",
        },
        "return_behaviour": {
            "none": "No returns",
            "some": "Some returns",
            "frequent": "Frequent returns",
        },
        "support_intensity": {
            "none": "No ticket",
            "one": "One ticket",
            "several": "Several tickets",
        },
        "nps_group": {
            "promoter": "Promoters",
            "passive": "Passives",
            "detractor": "Detractors",
            "no_answer": "No answer",
        },
        "marketing_consent": {"opted_in": "Opted in", "opted_out": "Opted out"},
        "grid_cell": {
            "act_first": "Act first",
            "nurture": "Nurture",
            "maintain": "Maintain",
            "low_cost": "Low cost",
            "excluded": "Excluded from campaigns",
            "no_customers": "No customers",
        },
        "tone": {
            "reward": "Recognition",
            "nurture": "Nurturing",
            "winback": "Win-back",
            "light": "Light",
        },
        "trait": {
            "lapsed": "lapsed",
            "recent": "bought recently",
            "frequent": "buy often",
            "one-off": "bought once",
            "high-value": "high value",
            "low-value": "low value",
            "big baskets": "big baskets",
            "small baskets": "small baskets",
            "promo-driven": "promotion-driven",
            "full-price": "pay full price",
            "heavy returners": "send a lot back",
            "keep what they buy": "keep what they buy",
            "support-heavy": "contact support a lot",
            "self-sufficient": "seldom contact support",
            "average behaviour": "average behaviour",
        },
        "attribute": {
            "age_band": "Age bands",
            "gender": "Gender",
            "region": "Regions",
            "acquisition_channel": "Acquisition channel",
            "acquisition_season": "Acquisition season",
            "favourite_channel": "Favourite channels",
            "favourite_category": "Favourite categories",
            "basket_band": "Average basket",
            "promo_sensitivity": "Sensitivity to promotions",
            "return_behaviour": "Returns",
            "support_intensity": "Support contacts",
            "nps_group": "Latest NPS answer",
            "marketing_consent": "Marketing consent",
        },
        "*": {"unknown": "unknown", "other_values": "other (merged)"},
    },
}
#: Code domain of each persona attribute's values (None: values are data, e.g. region names).
ATTRIBUTE_DOMAINS: dict[str, str | None] = {
    "age_band": "age_band",
    "gender": "gender",
    "region": None,
    "acquisition_channel": "channel",
    "acquisition_season": "season",
    "favourite_channel": "channel",
    "favourite_category": "category",
    "basket_band": "basket_band",
    "promo_sensitivity": "promo_sensitivity",
    "return_behaviour": "return_behaviour",
    "support_intensity": "support_intensity",
    "nps_group": "nps_group",
    "marketing_consent": "marketing_consent",
}


class Translator:
    """Labels of the marts' codes in one language."""

    def __init__(self, language: str) -> None:
        strings(language)  # validates the language
        self.codes = CODES[language]

    def code(self, domain: str | None, value: object) -> str:
        """The label of `value` in `domain` ('unknown'/'other_values' in every domain); codes
        not listed come back as they are (data such as region names, or a code to add)."""
        text = "" if value is None else str(value)
        if domain and text in self.codes.get(domain, {}):
            return self.codes[domain][text]
        return self.codes["*"].get(text, text)

    def attribute_value(self, attribute: str, value: object) -> str:
        """The label of a persona attribute's value."""
        return self.code(ATTRIBUTE_DOMAINS.get(attribute), value)


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
