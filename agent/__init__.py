"""The agent: reads instruments, decides their states, publishes them without losing any.

The pure core: ``messages`` (the wire protocol's names and topics, and the messages as the
agent builds and writes them), ``wire`` (the same messages as pydantic models: the schema the
collector parses with; the agent itself never imports it, nor pydantic), ``inference``
(readings and events to states), ``emitter`` (envelope, seq and dating; state, heartbeat,
session and status messages, shared with the bridge) and ``core`` (heartbeats and health). The
shell: ``config`` and ``sources`` (config and drivers), ``runtime`` (the loop, clock jumps,
shutdown), ``link`` (one broker connection per instrument), ``outbox`` (durable SQLite queue),
``check``, ``commands``, ``service`` and ``cli``.

Importing this package must stay cheap: it is imported by the collector and the bridge for the
wire schema, so nothing heavy (paho, serial, pydantic) is imported here.
"""
