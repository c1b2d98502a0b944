"""Country names commonly found in exports -> ISO 3166-1 alpha-2 codes.

Two-letter codes are accepted as they are when `phonenumbers` knows the region; names are matched
lower-case and without accents, so "France", "FRANCE" and "france " all give FR.
"""

from __future__ import annotations

import phonenumbers

#: ISO-2 codes accepted as is (every region phonenumbers knows, i.e. essentially all countries).
ISO2_CODES: frozenset[str] = frozenset(phonenumbers.SUPPORTED_REGIONS)

# fmt: off
COUNTRY_NAMES: dict[str, str] = {
    "france": "FR", "fra": "FR", "republique francaise": "FR",
    "belgique": "BE", "belgium": "BE", "belgie": "BE", "bel": "BE",
    "suisse": "CH", "switzerland": "CH", "schweiz": "CH", "che": "CH",
    "luxembourg": "LU", "lux": "LU",
    "allemagne": "DE", "germany": "DE", "deutschland": "DE", "deu": "DE",
    "espagne": "ES", "spain": "ES", "espana": "ES", "esp": "ES",
    "italie": "IT", "italy": "IT", "italia": "IT", "ita": "IT",
    "portugal": "PT", "prt": "PT",
    "pays-bas": "NL", "pays bas": "NL", "netherlands": "NL", "nederland": "NL", "nld": "NL",
    "royaume-uni": "GB", "royaume uni": "GB", "united kingdom": "GB", "uk": "GB",
    "grande-bretagne": "GB", "great britain": "GB", "gbr": "GB",
    "irlande": "IE", "ireland": "IE", "irl": "IE",
    "autriche": "AT", "austria": "AT", "osterreich": "AT", "aut": "AT",
    "etats-unis": "US", "etats unis": "US", "united states": "US", "usa": "US",
    "united states of america": "US",
    "canada": "CA", "can": "CA",
    "monaco": "MC", "mco": "MC",
    "maroc": "MA", "morocco": "MA", "mar": "MA",
    "algerie": "DZ", "algeria": "DZ", "dza": "DZ",
    "tunisie": "TN", "tunisia": "TN", "tun": "TN",
    "pologne": "PL", "poland": "PL", "pol": "PL",
    "suede": "SE", "sweden": "SE", "swe": "SE",
    "danemark": "DK", "denmark": "DK", "dnk": "DK",
    "norvege": "NO", "norway": "NO", "nor": "NO",
    "finlande": "FI", "finland": "FI", "fin": "FI",
    "grece": "GR", "greece": "GR", "grc": "GR",
}
# fmt: on
