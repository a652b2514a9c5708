"""Turns telemetry from embedded sensor nodes and Sparkplug B edge nodes into agent heartbeats."""
