"""The InfluxDB sink: mirrors states, readings, agent health and daily usage for Grafana."""

from jishi.collector.sink.config import SinkConfig
from jishi.collector.sink.points import (
    STATE_CODES,
    DailyUsage,
    InstrumentMeta,
    Point,
    StateCode,
    StateInterval,
)
from jishi.collector.sink.sink import InfluxSink

__all__ = [
    "STATE_CODES",
    "DailyUsage",
    "InfluxSink",
    "InstrumentMeta",
    "Point",
    "SinkConfig",
    "StateCode",
    "StateInterval",
]
