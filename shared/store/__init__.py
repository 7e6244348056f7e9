"""One store per table: the only place a key pattern is spelled, and the one way to read and write.

Each module serves one table of ``infra/template.yaml``:

- ``shared.store.crm``: the CRM table (leads, reps, territories, accounts, contacts, opportunities,
  escalations, samples, activities, orders, alert records);
- ``shared.store.plan``: the plan table (plan figures, actuals, rollups);
- ``shared.store.pos``: the POS table (runs, ledger, inventory, unmatched end customers);
- ``shared.store.state``: the state table (rate-limit windows, rotation turns, checkpoints, config
  status) and ``shared.store.events`` for the events inbox;
- ``shared.store.files``: the bucket's files people are handed (board reports, POS rejects, import
  results): size, bytes, a write, a presigned link.

A module holds its keys (functions named ``*_key``), typed item models (pynamodb), a ``Protocol`` of
the access patterns the functions use, the DynamoDB implementation, and an in-memory implementation
with the same semantics for unit tests. Every access pattern in ``docs/data-model.md`` names its
method here. Storage failures are raised as the ``StoreError`` family (``shared.store.errors``),
which handlers map to answers (a 503 with ``Retry-After``, a failed batch item).

Style: pynamodb for items, conditions and transactions; the low-level client only where pynamodb
cannot do it, with a one-line comment saying why.
"""
