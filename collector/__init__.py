"""The collector: MQTT ingest, ledger, usage engine, REST API."""
