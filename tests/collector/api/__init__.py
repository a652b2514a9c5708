"""Tests of jishi.collector.api."""
