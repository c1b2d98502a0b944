"""Static reference data for the demo generator: towns, categories, promo codes, behaviour tables.

Everything tunable about the hidden population lives here so the behaviour of each customer type
can be read (and changed) in one place, away from the vectorised mechanics.
"""

from __future__ import annotations

import numpy as np

#: Hidden customer types. Order matters: it is the column order of the probability tables below.
PERSON_TYPES: tuple[str, ...] = (
    "loyal",  # frequent, high basket, still buying
    "regular",  # steady mid-frequency buyers
    "occasional",  # a couple of orders spread over the years
    "promo_one_time",  # one order, with a promo code, usually in the sales
    "one_time",  # one order, full price
    "serial_returner",  # many returned orders, refunds, support tickets
    "churner",  # used to buy, stopped 6-18 months before as_of
    "new",  # acquired in the last 120 days, 1-3 orders
    "prospect",  # registered, never bought
)
TYPE_INDEX = {name: i for i, name in enumerate(PERSON_TYPES)}

#: Types whose number of orders is fixed at one.
SINGLE_ORDER_TYPES = ("promo_one_time", "one_time")
#: Types that share the bulk of the orders (at least two each), with their relative appetite.
MULTI_ORDER_WEIGHTS = {
    "loyal": 10.0,
    "regular": 3.5,
    "occasional": 0.4,
    "serial_returner": 3.0,
    "churner": 1.5,
}

#: Type probabilities by acquisition month class (columns follow PERSON_TYPES).
#: Sales months (December, January) bring promo hunters who rarely come back; summer cohorts
#: (June-August) are acquired through the catalogue and retain much better.
TYPE_PROBS = {
    "sales": (0.02, 0.05, 0.08, 0.40, 0.22, 0.05, 0.15, 0.0, 0.03),
    "summer": (0.08, 0.17, 0.13, 0.08, 0.30, 0.03, 0.18, 0.0, 0.03),
    "other": (0.04, 0.10, 0.10, 0.22, 0.30, 0.04, 0.17, 0.0, 0.03),
    # acquired less than 120 days before as_of: too early to be anything but new or one-off
    "recent": (0.0, 0.0, 0.0, 0.12, 0.15, 0.0, 0.0, 0.70, 0.03),
}
SALES_MONTHS = (12, 1)
SUMMER_MONTHS = (6, 7, 8)
RECENT_DAYS = 120
#: A churner's last order falls this many days before as_of.
CHURN_GAP_DAYS = (183, 548)

#: Relative order (and acquisition) volume per calendar month: Christmas/January sales peak and a
#: smaller summer sales peak.
MONTH_WEIGHTS = np.array([1.7, 0.8, 0.85, 0.9, 0.9, 1.0, 1.45, 1.1, 0.9, 0.95, 1.3, 1.9])
#: Yearly growth of the business, so recent months weigh a bit more.
YEARLY_GROWTH = 0.15

#: Median basket (EUR) per type; lognormal spread BASKET_SIGMA.
BASKET_MEDIAN = {
    "loyal": 140.0,
    "regular": 75.0,
    "occasional": 60.0,
    "promo_one_time": 45.0,
    "one_time": 55.0,
    "serial_returner": 90.0,
    "churner": 60.0,
    "new": 60.0,
    "prospect": 60.0,
}
BASKET_SIGMA = 0.5
#: Baskets are bigger in December (gifts).
DECEMBER_BASKET_FACTOR = 1.3

#: Probability that an order is returned, per type.
RETURN_RATE = {
    "serial_returner": 0.55,
    "promo_one_time": 0.08,
}
DEFAULT_RETURN_RATE = 0.05
CANCEL_RATE = 0.03
PARTIAL_REFUND_RATE = 0.2
UNLINKED_REFUND_RATE = 0.1

#: Share of (non promo_one_time) orders carrying a promo code, by month.
PROMO_RATE_BY_MONTH = np.array(
    [0.25, 0.05, 0.05, 0.06, 0.06, 0.08, 0.15, 0.15, 0.05, 0.06, 0.10, 0.25]
)
DISCOUNT_RATES = np.array([0.10, 0.15, 0.20, 0.30])

#: NPS score mean per type (normal, sd NPS_SD, clipped to 0..10).
NPS_MEAN = {
    "loyal": 9.3,
    "regular": 8.0,
    "occasional": 7.3,
    "promo_one_time": 6.8,
    "one_time": 7.0,
    "serial_returner": 3.5,
    "churner": 4.5,
    "new": 7.8,
    "prospect": 7.0,
}
NPS_SD = 1.5
NPS_RESPONSE_RATE = {"loyal": 0.35}
DEFAULT_NPS_RESPONSE_RATE = 0.18

#: Support tickets per customer record (Poisson mean), per type.
TICKET_RATE = {"serial_returner": 2.5, "churner": 0.5, "loyal": 0.6}
DEFAULT_TICKET_RATE = 0.15
TICKET_TOPICS = ("delivery", "product_question", "return", "refund", "account", "payment")
TICKET_TOPIC_PROBS = {
    "serial_returner": (0.15, 0.10, 0.35, 0.30, 0.05, 0.05),
    "default": (0.35, 0.25, 0.10, 0.05, 0.15, 0.10),
}

#: Product categories: (category, product id prefix).
CATEGORIES: tuple[tuple[str, str], ...] = (
    ("mode", "MOD"),
    ("chaussures", "CHA"),
    ("beaute", "BEA"),
    ("maison", "MAI"),
    ("sport", "SPO"),
    ("enfants", "ENF"),
    ("high-tech", "HTC"),
    ("epicerie", "EPI"),
)
PRODUCTS_PER_CATEGORY = 250
#: Probability that an order line is in the person's favourite category.
FAVOURITE_CATEGORY_SHARE = 0.55

#: Source systems of customer records: (name, id prefix, id start, id digits, primary share).
#: The formats differ on purpose (string ids, leading zeros, plain numbers).
SOURCE_SYSTEMS: tuple[tuple[str, str, int, int, float], ...] = (
    ("eshop", "E", 1, 7, 0.55),
    ("crm", "", 100000, 0, 0.25),
    ("store", "MAG", 1, 6, 0.20),
)
#: Order channel probabilities (web, store, app, phone) given the record's source system.
CHANNELS = ("web", "store", "app", "phone")
CHANNEL_PROBS = {
    "eshop": (0.60, 0.00, 0.35, 0.05),
    "crm": (0.40, 0.30, 0.15, 0.15),
    "store": (0.10, 0.85, 0.00, 0.05),
}

#: Towns: (city, postal code, region, landline prefix digit, relative weight).
TOWNS: tuple[tuple[str, str, str, str, float], ...] = (
    ("Paris", "75011", "Île-de-France", "1", 12),
    ("Paris", "75015", "Île-de-France", "1", 10),
    ("Paris", "75018", "Île-de-France", "1", 8),
    ("Boulogne-Billancourt", "92100", "Île-de-France", "1", 3),
    ("Versailles", "78000", "Île-de-France", "1", 2),
    ("Marseille", "13008", "Provence-Alpes-Côte d'Azur", "4", 8),
    ("Lyon", "69003", "Auvergne-Rhône-Alpes", "4", 8),
    ("Toulouse", "31000", "Occitanie", "5", 6),
    ("Nice", "06000", "Provence-Alpes-Côte d'Azur", "4", 5),
    ("Nantes", "44000", "Pays de la Loire", "2", 5),
    ("Montpellier", "34000", "Occitanie", "4", 4),
    ("Strasbourg", "67000", "Grand Est", "3", 4),
    ("Bordeaux", "33000", "Nouvelle-Aquitaine", "5", 4),
    ("Lille", "59000", "Hauts-de-France", "3", 4),
    ("Rennes", "35000", "Bretagne", "2", 3),
    ("Reims", "51100", "Grand Est", "3", 3),
    ("Saint-Étienne", "42000", "Auvergne-Rhône-Alpes", "4", 3),
    ("Le Havre", "76600", "Normandie", "2", 2),
    ("Toulon", "83000", "Provence-Alpes-Côte d'Azur", "4", 2),
    ("Grenoble", "38000", "Auvergne-Rhône-Alpes", "4", 2),
    ("Dijon", "21000", "Bourgogne-Franche-Comté", "3", 2),
    ("Angers", "49000", "Pays de la Loire", "2", 2),
    ("Nîmes", "30000", "Occitanie", "4", 2),
    ("Villeurbanne", "69100", "Auvergne-Rhône-Alpes", "4", 2),
    ("Clermont-Ferrand", "63000", "Auvergne-Rhône-Alpes", "4", 2),
    ("Le Mans", "72000", "Pays de la Loire", "2", 2),
    ("Aix-en-Provence", "13100", "Provence-Alpes-Côte d'Azur", "4", 2),
    ("Brest", "29200", "Bretagne", "2", 2),
    ("Tours", "37000", "Centre-Val de Loire", "2", 2),
    ("Amiens", "80000", "Hauts-de-France", "3", 2),
    ("Limoges", "87000", "Nouvelle-Aquitaine", "5", 1),
    ("Annecy", "74000", "Auvergne-Rhône-Alpes", "4", 1),
    ("Metz", "57000", "Grand Est", "3", 1),
    ("Besançon", "25000", "Bourgogne-Franche-Comté", "3", 1),
    ("Orléans", "45000", "Centre-Val de Loire", "2", 1),
    ("Rouen", "76000", "Normandie", "2", 1),
    ("Caen", "14000", "Normandie", "2", 1),
    ("Nancy", "54000", "Grand Est", "3", 1),
    ("Poitiers", "86000", "Nouvelle-Aquitaine", "5", 1),
    ("Pau", "64000", "Nouvelle-Aquitaine", "5", 1),
    ("Ajaccio", "20000", "Corse", "4", 1),
    ("Quimper", "29000", "Bretagne", "2", 1),
)

#: E-mail providers and their market share.
EMAIL_PROVIDERS: tuple[tuple[str, float], ...] = (
    ("gmail.com", 0.35),
    ("orange.fr", 0.15),
    ("hotmail.fr", 0.12),
    ("free.fr", 0.10),
    ("yahoo.fr", 0.08),
    ("outlook.fr", 0.08),
    ("laposte.net", 0.06),
    ("sfr.fr", 0.06),
)

#: Share of persons having 2 or more customer records.
DUPLICATE_PERSON_RATE = 0.09
#: Of those, the share with 1, 2, 3, 4 and 5 extra records (up to 5 duplicates per person, as in
#: the Febrl benchmark sets; most duplicated persons have one).
EXTRA_RECORDS_SHARES = (0.80, 0.10, 0.05, 0.03, 0.02)
#: Mean number of extra records of a duplicated person.
MEAN_EXTRA_RECORDS = sum((k + 1) * s for k, s in enumerate(EXTRA_RECORDS_SHARES))
#: Corruptions of a duplicate record (beyond the usual export differences): how many it gets
#: (0, 1, 2, 3 or 4) and which, by weight. Typos, OCR and phonetic errors, swapped names, missing
#: fields and changed birth-date digits are what the record-linkage literature's benchmark
#: generator (Febrl) injects; names take most of them.
CORRUPTION_COUNT_SHARES = (0.10, 0.40, 0.30, 0.15, 0.05)
CORRUPTION_WEIGHTS = {
    "typo": 0.30,
    "ocr": 0.08,
    "phonetic": 0.14,
    "swap_names": 0.06,
    "missing": 0.20,
    "birth_date": 0.14,
    "postal_code": 0.04,
    "house_number": 0.04,
}
#: Look-alike groups of each kind per person (at least MIN_LOOKALIKE_GROUPS each).
LOOKALIKE_GROUP_RATE = 0.004
MIN_LOOKALIKE_GROUPS = 3
#: Persons whose records are missing from the customer exports (orders reference them).
GHOST_RATE = 0.002
MIN_GHOSTS = 3

#: Missing optional fields on primary records.
MISSING_PHONE_RATE = 0.08
MISSING_BIRTH_DATE_RATE = 0.10
MISSING_GENDER_RATE = 0.05
MARKETING_OPT_IN_RATE = 0.6

#: Number of injected faults of one kind in one file: rows * FAULT_RATE, within the bounds.
FAULT_RATE = 0.0004
MIN_FAULTS = 2
MAX_FAULTS = 1000
