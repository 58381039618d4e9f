"""Value types of every request body, path and query parameter: what PostgreSQL can store.

PostgreSQL refuses NUL in ``text`` and ``jsonb`` and ids above 2^63−1 in ``bigint``: these
types answer 422 naming the field before a value gets that far, instead of a 500 from the
database. Every schema and parameter that reaches the database uses them.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Path
from pydantic import AfterValidator, Field
from pydantic_core import PydanticCustomError

BIGINT_MAX = 2**63 - 1
NO_NUL_PATTERN = r"^[^\u0000]*$"
# A source system's name: lower case, as in /v1/sources/{system}/….
SYSTEM_PATTERN = r"^[a-z0-9][a-z0-9_.-]{0,62}$"
# A key the hub names things by (a custom field, a quality rule): snake_case, 63 at most.
KEY_PATTERN = r"^[a-z][a-z0-9_]{0,62}$"
# A source id: printable text, no control character (C0, DEL, C1; CR and LF included), and not
# only spaces: ids are compared as text, so two ids that print alike must be the same id.
SOURCE_ID_PATTERN = (
    r"^[^\u0000-\u001f\u007f-\u009f]*[^\s\u0000-\u001f\u007f-\u009f][^\u0000-\u001f\u007f-\u009f]*$"
)


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise PydanticCustomError("nul_character", "NUL characters (\\u0000) are not allowed")
    return value


# Text without NUL (add max_length etc. with Field at the use).
SafeStr = Annotated[
    str, AfterValidator(_no_nul), Field(json_schema_extra={"pattern": NO_NUL_PATTERN})
]

# A database id (bigint identity): 1 … 2^63−1.
Id = Annotated[int, Field(ge=1, le=BIGINT_MAX)]

KeyPath = Annotated[str, Path(pattern=KEY_PATTERN)]

SourceIdPath = Annotated[
    str,
    Path(
        min_length=1,
        max_length=200,
        pattern=SOURCE_ID_PATTERN,
        description="The record's id in the source system: printable UTF-8 (percent-encoded in "
        "the URL), no control characters (CR, LF, other C0/C1), not only spaces. Invalid "
        "UTF-8 answers 400",
        examples=["ACC-0001"],
    ),
]
