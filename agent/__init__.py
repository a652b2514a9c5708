"""The agent: config, polling loop, state inference, MQTT publisher, durable outbox, wire schema.

Importing this package must stay cheap: it is imported by the collector and the bridge for the
wire schema, so nothing heavy (paho, pymodbus, serial) is imported here.
"""
