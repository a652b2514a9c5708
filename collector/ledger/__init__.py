"""The ledger: what the agents said (evidence) and the timeline it resolves to, on SQLite or
PostgreSQL.

``tables`` and ``migrations`` define it; ``writer`` stores a batch in one transaction (with
``claims`` for the evidence, ``canvas`` for the spans it changes, ``seqranges`` for dedupe and
``sql`` for the fast DBAPI calls); ``queries``, ``sessions``, ``registry`` and ``rollup`` read
and maintain the rest. ``batch`` holds the types a batch is made of.
"""
