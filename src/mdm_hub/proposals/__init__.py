"""Proposals a steward decides: a customer is this 法人番号's corporation (``registry_proposals``,
enrichment) or a site of that corporation (``hierarchy_proposals``, hierarchy). Each feature
keeps its own table and reads; the decision is written here, once for both."""
