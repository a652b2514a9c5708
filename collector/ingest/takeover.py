"""Telling a session takeover from an ordinary lost connection (issue 17, item 3).

Theory of operation: a broker lets one connection per client id exist; when another client
connects with ours, it disconnects us (MQTT 3.1.1 section 3.1.4 point 2, MQTT 5 section 3.1.4
point 3). MQTT 5 says so: a DISCONNECT with reason code 0x8E "Session taken over" (MQTT 5
section 3.14.2.1). MQTT 3.1.1 has no DISCONNECT from the server, the socket just closes, so
the only sign is the pattern: connections that are dropped again within seconds, several times
in a row, while paho's reconnects and the other client keep taking the id from each other. A
broker going down does not look like that (it refuses or does not answer our CONNECT), and
one early drop is not enough. Pure: the caller passes the time and the reason code.
"""

from __future__ import annotations

from dataclasses import dataclass

SESSION_TAKEN_OVER = 0x8E  # MQTT 5 section 2.4, reason code table


@dataclass
class TakeoverWatch:
    """Fed with our connects and disconnects; says when a disconnect is (likely) a takeover."""

    # A connection dropped within this many seconds counts as short ...
    short_s: float = 5.0
    # ... and this many short ones in a row are taken as a takeover on MQTT 3.1.1.
    repeats: int = 3
    _connected_at: float | None = None
    _short_in_row: int = 0

    def connected(self, now: float) -> None:
        self._connected_at = now

    def disconnected(self, now: float, reason_code: int | None) -> str | None:
        """The explanation to log if this disconnect is (likely) a takeover, else None."""
        connected_at, self._connected_at = self._connected_at, None
        if reason_code == SESSION_TAKEN_OVER:
            self._short_in_row = 0
            return (
                "the broker says our session was taken over (MQTT 5 reason 0x8E): another "
                "client connected with the collector's client id"
            )
        if connected_at is None:  # a failed connection attempt, not a dropped connection
            return None
        if now - connected_at >= self.short_s:
            self._short_in_row = 0
            return None
        self._short_in_row += 1
        if self._short_in_row < self.repeats:
            return None
        self._short_in_row = 0
        return (
            f"the broker dropped us {self.repeats} times in a row within {self.short_s:g} s "
            "of connecting: likely another client is using the collector's client id"
        )
