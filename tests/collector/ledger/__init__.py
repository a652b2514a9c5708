"""Tests of jishi.collector.ledger."""
