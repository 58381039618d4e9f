"""Data quality: plausibility findings (accept and flag), their policies, and the KPIs."""
