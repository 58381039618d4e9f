"""``Idempotency-Key`` on POST: a retried request answers what the first one answered."""
