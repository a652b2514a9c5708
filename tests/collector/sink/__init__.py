"""Tests of jishi.collector.sink."""
