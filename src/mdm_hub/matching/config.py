"""Matching configuration: the Fellegi–Sunter parameters, versioned as JSON.

A :class:`MatchConfig` holds, per customer kind (``corporation``, ``person``):

* ``prior`` (λ): the probability that two records drawn at random are the same customer;
* per field, per comparison level, ``m`` = P(level | same customer) and ``u`` = P(level |
  different customers). The level's weight is ``log2(m / u)`` (a log2 Bayes factor). The
  ``missing`` level is never configured: a missing value weighs 0.
* ``fixed`` levels: parameters that encode what the independence assumption of Fellegi–Sunter
  gets wrong on Japanese data (households share an address and a phone, sites of one corporation
  share its 代表番号 and ``info@``). Estimation never moves them.
* term-frequency settings: which blocking-key kind gives the frequency of an agreeing value.

The default configuration is the packaged ``weights_v3.json``; ``load_config()`` caches it.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Any

from mdm_hub.matching.levels import (
    FIELD_LEVELS,
    IDENTIFIER_COMPARE,
    IDENTIFIER_LEVELS,
    OPTIONAL_LEVELS,
)

DEFAULT_CONFIG_PATH = Path(__file__).with_name("weights_v3.json")

KINDS = ("corporation", "person")
# The same pattern custom field keys are defined with (custom_fields/schemas.py).
_CUSTOM_FIELD_KEY = re.compile(r"[a-z][a-z0-9_]{0,62}")


class ConfigError(ValueError):
    """The configuration file is not a valid matching configuration."""


@dataclass(frozen=True)
class LevelParams:
    m: float
    u: float
    fixed: bool = False
    note: str = ""

    @property
    def weight(self) -> float:
        return math.log2(self.m / self.u)


@dataclass(frozen=True)
class FieldModel:
    """One compared field: its levels (in explanation order) and term-frequency settings."""

    name: str
    levels: Mapping[str, LevelParams]
    tf_levels: tuple[str, ...] = ()
    """Levels whose ``u`` is scaled by the frequency of the agreeing value (Splink-style)."""
    tf_reference_count: float = 1.0
    """How many customers may share a value before the weight is reduced."""
    tf_min_weight: float = 0.0
    """A term-frequency-adjusted agreement never weighs less than this."""
    description: str = ""
    compare: str = ""
    """Empty for the built-in fields; ``identifier`` for an identifier custom field."""
    custom_field: str = ""
    """For ``compare: identifier``: the custom field's key (values compared and indexed)."""
    weights: Mapping[str, float] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "levels", MappingProxyType(dict(self.levels)))
        weights = {level: p.weight for level, p in self.levels.items()}
        weights["missing"] = 0.0
        object.__setattr__(self, "weights", MappingProxyType(weights))

    def tf_weight(self, level: str, count: int) -> float:
        """The weight of ``level`` when the agreeing value is shared by ``count`` customers."""
        base = self.weights[level]
        if level not in self.tf_levels or count <= self.tf_reference_count:
            return base
        params = self.levels[level]
        u = min(1.0, params.u * count / self.tf_reference_count)
        return max(self.tf_min_weight, min(base, math.log2(params.m / u)))


@dataclass(frozen=True)
class KindModel:
    prior: float
    fields: Mapping[str, FieldModel]
    estimation_prior: float | None = None
    """The prior the refit's E-step uses (default ``prior``). A refit that estimates λ keeps the
    E-step's prior here, so refitting a refit does not feed λ back into its own estimate."""

    prior_weight: float = field(init=False, repr=False, compare=False)
    """log2(λ / (1 - λ)): the match weight of two records about which nothing is known."""
    identifier_fields: tuple[str, ...] = field(init=False, repr=False, compare=False)
    """The names of the fields that compare an identifier custom field."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "fields", MappingProxyType(dict(self.fields)))
        for prior in (self.prior, self.estimation_prior):
            if prior is not None and not 0.0 < prior < 1.0:
                raise ConfigError(f"prior must be in (0, 1), not {prior}")
        object.__setattr__(self, "prior_weight", math.log2(self.prior / (1.0 - self.prior)))
        object.__setattr__(
            self,
            "identifier_fields",
            tuple(name for name, fm in self.fields.items() if fm.compare == "identifier"),
        )


@dataclass(frozen=True)
class Similarity:
    """String-similarity thresholds (rapidfuzz Jaro-Winkler on characters)."""

    name_high: float = 0.94
    name_low: float = 0.85
    person_name_high: float = 0.94
    person_name_low: float = 0.85
    person_part: float = 0.90
    town: float = 0.90
    branch: float = 0.92


@dataclass(frozen=True)
class Bounds:
    """How far estimation may move a parameter from its prior, in bits (factors of two)."""

    max_m_shift_bits: float = 1.0
    max_u_shift_bits: float = 2.0
    min_expected_count: float = 5.0
    """A level seen (or expected) fewer times than this in the data keeps its prior."""


@dataclass(frozen=True)
class MatchConfig:
    version: str
    kinds: Mapping[str, KindModel]
    similarity: Similarity = Similarity()
    merge_threshold: float = 0.99
    review_threshold: float = 0.30
    bounds: Bounds = Bounds()
    role_mailboxes: frozenset[str] = frozenset()
    free_mail_domains: frozenset[str] = frozenset()
    head_office_names: frozenset[str] = frozenset({"本社", "本店"})
    description: str = ""
    identifier_fields: frozenset[str] = field(init=False, repr=False, compare=False)
    """The custom-field keys declared as identifiers (any kind): compared and blocked on."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "kinds", MappingProxyType(dict(self.kinds)))
        object.__setattr__(
            self,
            "identifier_fields",
            frozenset(
                fm.custom_field
                for km in self.kinds.values()
                for fm in km.fields.values()
                if fm.compare == "identifier" and fm.custom_field
            ),
        )
        _validate(self)

    def kind(self, kind: str) -> KindModel:
        return self.kinds[kind]

    def weight(self, kind: str, field_name: str, level: str) -> float:
        return self.kinds[kind].fields[field_name].weights[level]

    # -- serialisation ------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "description": self.description,
            "thresholds": {"merge": self.merge_threshold, "review": self.review_threshold},
            "similarity": {f.name: getattr(self.similarity, f.name) for f in fields(Similarity)},
            "estimation_bounds": {f.name: getattr(self.bounds, f.name) for f in fields(Bounds)},
            "role_mailboxes": sorted(self.role_mailboxes),
            "free_mail_domains": sorted(self.free_mail_domains),
            "head_office_names": sorted(self.head_office_names),
            "kinds": {
                kind: {
                    "prior": km.prior,
                    **(
                        {"estimation_prior": km.estimation_prior}
                        if km.estimation_prior is not None
                        else {}
                    ),
                    "fields": {name: _field_to_dict(fm) for name, fm in km.fields.items()},
                }
                for kind, km in self.kinds.items()
            },
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=2) + "\n"


def _field_to_dict(fm: FieldModel) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if fm.description:
        out["description"] = fm.description
    if fm.compare:
        out["compare"] = fm.compare
        out["custom_field"] = fm.custom_field
    if fm.tf_levels:
        out["term_frequency"] = {
            "levels": list(fm.tf_levels),
            "reference_count": fm.tf_reference_count,
            "min_weight": fm.tf_min_weight,
        }
    levels: dict[str, Any] = {}
    for level, p in fm.levels.items():
        entry: dict[str, Any] = {"m": p.m, "u": p.u}
        if p.fixed:
            entry["fixed"] = True
        if p.note:
            entry["note"] = p.note
        levels[level] = entry
    out["levels"] = levels
    return out


def config_from_dict(data: Mapping[str, Any]) -> MatchConfig:
    try:
        kinds: dict[str, KindModel] = {}
        for kind, kd in data["kinds"].items():
            fields: dict[str, FieldModel] = {}
            for name, fd in kd["fields"].items():
                tf = fd.get("term_frequency") or {}
                fields[name] = FieldModel(
                    name=name,
                    description=fd.get("description", ""),
                    compare=str(fd.get("compare", "")),
                    custom_field=str(fd.get("custom_field", "")),
                    levels={
                        level: LevelParams(
                            m=float(ld["m"]),
                            u=float(ld["u"]),
                            fixed=bool(ld.get("fixed", False)),
                            note=ld.get("note", ""),
                        )
                        for level, ld in fd["levels"].items()
                    },
                    tf_levels=tuple(tf.get("levels", ())),
                    tf_reference_count=float(tf.get("reference_count", 1.0)),
                    tf_min_weight=float(tf.get("min_weight", 0.0)),
                )
            estimation_prior = kd.get("estimation_prior")
            kinds[kind] = KindModel(
                prior=float(kd["prior"]),
                fields=fields,
                estimation_prior=None if estimation_prior is None else float(estimation_prior),
            )
        thresholds = data.get("thresholds", {})
        return MatchConfig(
            version=str(data["version"]),
            description=data.get("description", ""),
            kinds=kinds,
            similarity=Similarity(**data.get("similarity", {})),
            bounds=Bounds(**data.get("estimation_bounds", {})),
            merge_threshold=float(thresholds.get("merge", 0.99)),
            review_threshold=float(thresholds.get("review", 0.30)),
            role_mailboxes=frozenset(s.casefold() for s in data.get("role_mailboxes", ())),
            free_mail_domains=frozenset(s.casefold() for s in data.get("free_mail_domains", ())),
            head_office_names=frozenset(data.get("head_office_names", ("本社", "本店"))),
        )
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError(f"invalid matching configuration: {exc!r}") from exc


def _validate(config: MatchConfig) -> None:
    if not config.version:
        raise ConfigError("version is required")
    if not 0.0 < config.review_threshold <= config.merge_threshold < 1.0:
        raise ConfigError("thresholds must satisfy 0 < review <= merge < 1")
    for kind in KINDS:
        if kind not in config.kinds:
            raise ConfigError(f"kind {kind!r} is not configured")
    for kind, km in config.kinds.items():
        if kind not in FIELD_LEVELS:
            raise ConfigError(f"unknown kind {kind!r}")
        if not 0.0 < km.prior < 1.0:
            raise ConfigError(f"{kind}: prior must be in (0, 1)")
        known = FIELD_LEVELS[kind]
        for name, fm in km.fields.items():
            if fm.compare == IDENTIFIER_COMPARE:
                if name in known:
                    raise ConfigError(f"{kind}.{name}: the name of a built-in field")
                if not _CUSTOM_FIELD_KEY.fullmatch(fm.custom_field):
                    raise ConfigError(f"{kind}.{name}: custom_field must be a custom field key")
                expected = set(IDENTIFIER_LEVELS)
            elif fm.compare:
                raise ConfigError(f"{kind}.{name}: unknown compare {fm.compare!r}")
            elif name not in known:
                raise ConfigError(
                    f"{kind}: unknown field {name!r} (known: {sorted(known)}; an identifier "
                    'custom field needs "compare": "identifier" and "custom_field")'
                )
            else:
                expected = set(known[name])
            got = set(fm.levels)
            if not expected - OPTIONAL_LEVELS.keys() <= got <= expected:
                raise ConfigError(
                    f"{kind}.{name}: levels {sorted(got)} differ from {sorted(expected)}"
                )
            for level, p in fm.levels.items():
                if not (0.0 < p.m <= 1.0 and 0.0 < p.u <= 1.0):
                    raise ConfigError(f"{kind}.{name}.{level}: m and u must be in (0, 1]")
            for label, total in (
                ("m", sum(p.m for p in fm.levels.values())),
                ("u", sum(p.u for p in fm.levels.values())),
            ):
                if abs(total - 1.0) > 1e-3:
                    raise ConfigError(f"{kind}.{name}: {label} sums to {total:.6f}, not 1")
            for level in fm.tf_levels:
                if level not in fm.levels:
                    raise ConfigError(f"{kind}.{name}: term-frequency level {level!r} unknown")


def identifier_declaration(custom_field: str, description: str) -> dict[str, Any]:
    """The weights-file entry that declares a custom field an identifier, with the suggested
    priors (docs/matching.md, "Identifiers"): exact near-proof and frequency-adjusted,
    transposed (a typing error) strong, similar weak (numbers issued one after the other),
    different mildly against."""
    return {
        "description": description,
        "compare": "identifier",
        "custom_field": custom_field,
        "term_frequency": {"levels": ["exact"], "reference_count": 1, "min_weight": 0.0},
        "levels": {
            "exact": {"m": 0.9, "u": 1e-07},
            "transposed": {"m": 0.01, "u": 1e-06},
            "similar": {"m": 0.04, "u": 0.001999},
            "different": {"m": 0.05, "u": 0.9979999},
        },
    }


def load_config(path: Path | None = None) -> MatchConfig:
    """Load a matching configuration; without a path, the packaged default (cached)."""
    return _load(str((path or DEFAULT_CONFIG_PATH).resolve()))


@lru_cache(maxsize=8)
def _load(path: str) -> MatchConfig:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"cannot read matching configuration {path}: {exc}") from exc
    return config_from_dict(data)


def save_config(config: MatchConfig, path: Path) -> None:
    path.write_text(config.to_json(), encoding="utf-8")
