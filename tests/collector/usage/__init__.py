"""Tests of jishi.collector.usage."""
