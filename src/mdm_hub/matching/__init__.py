"""Duplicate resolution (名寄せ): blocking keys, field comparisons, Fellegi–Sunter scores.

Pure code (no I/O) lives in ``keys``, ``compare``, ``model``, ``config`` and ``em``; see
docs/matching.md.
"""
