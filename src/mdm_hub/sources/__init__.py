"""The write path of source records, in the order a write runs (docs/architecture.md):

1. ``router``: the request (``PUT /v1/sources/{system}/records/{id}``; the dry run ``POST
   /v1/match``);
2. ``prepare``: normalize, custom fields, NUL checks, blocking keys — for a batch of payloads;
3. ``locks``: the advisory locks of the whole batch, sorted, in one statement;
4. ``decide``: candidates, scores and the decision (merge, review, new);
5. ``protect``: protected fields the write would change wait for approval (governance);
6. ``store``: the source record, the golden record, the audit entries and the outbox event.

``service`` runs the steps for one write (a batch of one); ``repository`` holds their SQL.
"""
