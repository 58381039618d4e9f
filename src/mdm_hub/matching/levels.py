"""The comparison levels every part of matching shares: the levels (:class:`Level`), the levels
each built-in field can produce (:data:`FIELD_LEVELS`) and those of an identifier custom field.

``compare`` produces them, ``config`` validates a weights file against them; neither imports the
other for them.
"""

from __future__ import annotations

from enum import StrEnum
from types import SimpleNamespace


class Level(StrEnum):
    """Comparison levels. Each field uses a subset (see :data:`FIELD_LEVELS`)."""

    exact = "exact"
    normalized_equal = "normalized_equal"  # equal once separators (・ space - .) are ignored
    kana_equal = "kana_equal"  # written differently, read the same (フリガナ agree)
    similar_high = "similar_high"
    similar_low = "similar_low"
    similar = "similar"
    same_site = "same_site"  # same street address, building/floor missing on one side
    other_unit = "other_unit"  # same street address, different building/floor/room
    same_town = "same_town"  # same 町域, street missing on one side
    other_street = "other_street"  # same 町域, different 番地: another site
    partial = "partial"  # same street number; the town or the area (市区町村) differs
    transposed = "transposed"  # an identifier with two neighbouring characters swapped
    exact_mobile = "exact_mobile"  # a shared mobile number (personal)
    role_exact = "role_exact"  # a shared role mailbox (info@, sales@, ...)
    same_domain = "same_domain"  # same company mail domain
    family_differs = "family_differs"  # same given name, other family name (marriage)
    given_differs = "given_differs"  # same family name, other given name (household)
    one_sided = "one_sided"  # only one record names a site (支店, 営業所, ...)
    different = "different"
    missing = "missing"


# An identifier field (a custom field the weights file declares, see ``IDENTIFIER_COMPARE``):
# the same value, a value one typing error away (a character changed, added, dropped, or two
# neighbours swapped), or another value.
# ``transposed`` (two neighbouring characters swapped) is a typing error only: numbers issued one
# after the other (a household, twins registered together) differ by a changed character, never
# by a swap (a swap of digits a, b changes a number by 9·|a − b|·10^k, never by 1).
IDENTIFIER_COMPARE = "identifier"
IDENTIFIER_LEVELS: tuple[str, ...] = (
    Level.exact.value,
    Level.transposed.value,
    Level.similar.value,
    Level.different.value,
)

# Plain ``str`` constants for the hot path: hashing a StrEnum member runs Python code.
L = SimpleNamespace(**{member.name: member.value for member in Level})

# The address comparison is the same for both kinds.
_ADDRESS_LEVELS = (
    L.exact,
    L.same_site,
    L.other_unit,
    L.similar,
    L.same_town,
    L.other_street,
    L.partial,
    L.different,
)

# Levels a weights file may leave out (files written before the level existed: weights_v1/v2
# and the refits made from them); the comparison then gives the level named here instead, which
# is what those files' decisions meant.
OPTIONAL_LEVELS: dict[str, str] = {L.partial: L.different, L.transposed: L.similar}

# The levels each field can produce, in explanation order (``missing`` is implied everywhere).
FIELD_LEVELS: dict[str, dict[str, tuple[str, ...]]] = {
    "corporation": {
        "corporate_number": (L.exact, L.different),
        "name": (
            L.exact,
            L.normalized_equal,
            L.kana_equal,
            L.similar_high,
            L.similar_low,
            L.different,
        ),
        "branch": (L.exact, L.one_sided, L.different),
        "address": _ADDRESS_LEVELS,
        "phone": (L.exact, L.different),
        "email": (L.exact, L.role_exact, L.same_domain, L.different),
    },
    "person": {
        "name": (
            L.exact,
            L.kana_equal,
            L.similar_high,
            L.similar_low,
            L.family_differs,
            L.given_differs,
            L.different,
        ),
        "birth_date": (L.exact, L.similar, L.different),
        "address": _ADDRESS_LEVELS,
        "phone": (L.exact_mobile, L.exact, L.different),
        "email": (L.exact, L.different),
    },
}
