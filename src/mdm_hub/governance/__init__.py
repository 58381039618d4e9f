"""Governance: protected fields and change requests (承認フロー)."""
