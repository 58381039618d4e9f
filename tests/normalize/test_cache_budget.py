"""The normalization caches are bounded so that each normalizing process (the importer and
every process of its pool) stays within the import's memory budget (docs/import.md): at most
about 200,000 entries in all, a few hundred bytes each."""

from __future__ import annotations

import importlib
import pkgutil

import mdm_hub.normalize as normalize

BUDGET_ENTRIES = 200_000


def test_every_normalization_cache_is_bounded_within_the_budget() -> None:
    sizes: dict[str, int | None] = {}
    for info in pkgutil.iter_modules(normalize.__path__):
        module = importlib.import_module(f"{normalize.__name__}.{info.name}")
        for name, value in vars(module).items():
            if hasattr(value, "cache_parameters") and value.__module__ == module.__name__:
                sizes[f"{info.name}.{name}"] = value.cache_parameters()["maxsize"]
    # Unbounded only for what is built once per process (Japan Post's index).
    assert {k for k, v in sizes.items() if v is None} == {"postal.index"}
    assert len(sizes) > 20  # the caches were found
    assert sum(v for v in sizes.values() if v is not None) <= BUDGET_ENTRIES, sizes
