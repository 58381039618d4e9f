"""入力ルール as code: pure functions that turn what a source sends into what the hub stores.

See docs/normalization.md for every rule with examples. Sub-rules live in their own modules
(text, company, person, phone, address, postal, corporate_number, email, dates, rank); this
package exports what the rest of the hub uses.
"""

from .base import Change, FieldError, NormalizationError, RankRule
from .company import company_kana_key, company_name_key, parse_company_name
from .corporate_number import (
    corporate_number_lookup,
    validate_corporate_number,
    validate_invoice_registration_number,
)
from .customer import NormalizationResult, as_input, normalize_customer
from .email import normalize_email_address
from .phone import phone_e164
from .rank import check_rank_rules, derive_rank
from .text import fold_key, kana_fold, normalize_kana, normalize_text


def name_key(text: str) -> str:
    """Match key of a company or person name: legal form, branch and notes removed, folded.

    For a person's name (no legal form) this is the folded name without spaces, the same as
    ``PersonName.key``.
    """
    return company_name_key(text)


def kana_key(text: str) -> str:
    """Match key of a フリガナ (legal-form and branch readings removed, small kana folded)."""
    return company_kana_key(text)


__all__ = [
    "Change",
    "FieldError",
    "NormalizationError",
    "NormalizationResult",
    "RankRule",
    "as_input",
    "check_rank_rules",
    "corporate_number_lookup",
    "derive_rank",
    "fold_key",
    "kana_fold",
    "kana_key",
    "name_key",
    "normalize_customer",
    "normalize_email_address",
    "normalize_kana",
    "normalize_text",
    "parse_company_name",
    "phone_e164",
    "validate_corporate_number",
    "validate_invoice_registration_number",
]
