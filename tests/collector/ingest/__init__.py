"""Tests of jishi.collector.ingest."""
