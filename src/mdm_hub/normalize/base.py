"""Result and error types shared by every normalizer."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Severity = Literal["info", "warning"]


@dataclass(frozen=True)
class Change:
    """One thing normalization did to a record, or noticed about it.

    ``field`` is a JSON pointer into the *input* payload (``/addresses/0/prefecture``).
    """

    field: str
    code: str
    message: str
    severity: Severity = "info"


@dataclass(frozen=True)
class FieldError:
    """One invalid input value, pointed at by ``field`` (a JSON pointer into the input)."""

    field: str
    code: str
    message: str


class NormalizationError(ValueError):
    """Raised with every field error found in a payload, not only the first."""

    def __init__(self, errors: list[FieldError]) -> None:
        self.errors = list(errors)
        super().__init__("; ".join(f"{e.field or '(value)'}: {e.message}" for e in self.errors))


@dataclass(frozen=True)
class RankRule:
    """取引金額 >= ``min_amount`` gives ``rank``; the highest matching threshold wins."""

    rank: str
    min_amount: int


@dataclass
class Report:
    """Collects changes and errors while one payload is normalized."""

    changes: list[Change] = field(default_factory=list)
    errors: list[FieldError] = field(default_factory=list)

    def change(self, pointer: str, code: str, message: str, severity: Severity = "info") -> None:
        self.changes.append(Change(pointer, code, message, severity))

    def warn(self, pointer: str, code: str, message: str) -> None:
        self.changes.append(Change(pointer, code, message, "warning"))

    def error(self, pointer: str, code: str, message: str) -> None:
        self.errors.append(FieldError(pointer, code, message))

    def outcome(self, value: Any) -> Outcome:
        return value, tuple(self.changes), tuple(self.errors)

    def apply(self, outcome: Outcome) -> Any:
        """Take over the changes and errors of a (cached) outcome; return its value."""
        value, changes, errors = outcome
        if changes:
            self.changes.extend(changes)
        if errors:
            self.errors.extend(errors)
        return value


# (value, changes, errors): what a cacheable field normalizer returns. Changes and errors carry
# absolute JSON pointers, so the same immutable objects can be handed out again.
Outcome = tuple[Any, tuple[Change, ...], tuple[FieldError, ...]]


class InvalidValue(ValueError):
    """Internal: one bad value; the caller knows the pointer and turns it into a FieldError."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        self.message = message
        super().__init__(message)

    def as_error(self, pointer: str = "") -> NormalizationError:
        return NormalizationError([FieldError(pointer, self.code, self.message)])
