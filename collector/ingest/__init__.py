"""Ingest: MQTT messages in, validated batches out to the ledger, acknowledged after the commit.

``intake`` (pure) decides what each message is; ``sessions_csv`` (pure) reads booking exports;
``pipeline`` batches and retries; ``worker`` runs the writes in a second process;
``mqtt_source`` is the persistent-session MQTT client; ``metrics`` counts it all.
"""
