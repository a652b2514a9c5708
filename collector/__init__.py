"""The collector: agents' MQTT messages in, a ledger of evidence and timelines, usage out.

Its parts, lowest first (import-linter keeps the order): ``usage`` is the pure arithmetic
(timeline, freshness, engine, periods, policy); ``config`` reads ``collector.toml``;
``ledger`` is the database (tables, migrations, writer, queries, roll-ups); ``ingest`` takes
MQTT messages to the ledger and ``sink`` mirrors them to InfluxDB for Grafana; ``reports``
computes the evaluation's figures and lists; ``api`` serves them; ``service`` runs it all;
``cli``, ``report_cli`` and ``admin`` are the commands.
"""
