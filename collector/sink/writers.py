"""The two ways to hand line protocol to InfluxDB, with their errors translated by cause.

* :class:`V2Writer`: ``/api/v2/write`` through ``influxdb-client`` (InfluxDB 2.x, 3.x, 1.8+ and
  VictoriaMetrics).
* :class:`V1Writer`: ``/write`` of InfluxDB 1.x (database, retention policy, basic auth), over
  the standard library's ``http.client`` because ``influxdb-client`` does not speak it.

Both raise :class:`RetryableWriteError` (outage, 5xx, 429, authentication, missing database:
fix and the same batch succeeds), :class:`BatchTooLargeError` (413: split and retry) or
:class:`RejectedWriteError` (400: the points themselves are bad; retrying never helps).
"""

from __future__ import annotations

import base64
import http.client
from collections.abc import Sequence
from typing import Any, Protocol
from urllib.parse import urlencode, urlsplit

import urllib3

from jishi.collector.sink.config import SinkConfig
from jishi.errors import JishiError


class SinkWriteError(JishiError):
    """A batch was not written."""


class RetryableWriteError(SinkWriteError):
    """InfluxDB is down or overloaded: keep the batch and try again later."""


class BatchTooLargeError(SinkWriteError):
    """InfluxDB refused the batch for its size: split it and write the halves."""


class RejectedWriteError(SinkWriteError):
    """InfluxDB refused the points themselves: retrying cannot help."""


class Writer(Protocol):
    """Writes a batch of line-protocol lines to one InfluxDB API."""

    name: str

    def write(self, lines: Sequence[str]) -> None: ...

    def close(self) -> None: ...


def classify(status: int, detail: str) -> SinkWriteError:
    """Map an HTTP status of a write to the error that says what to do about it."""
    text = f"HTTP {status}: {detail.strip()[:300]}"
    if status == 413:
        return BatchTooLargeError(text)
    if status in {400, 422}:
        return RejectedWriteError(text)
    return RetryableWriteError(text)


class V1Writer:
    """POST ``/write?db=&rp=&precision=ns`` of InfluxDB 1.x."""

    name = "influxdb-v1"

    def __init__(
        self,
        url: str,
        database: str,
        *,
        retention_policy: str | None = None,
        username: str | None = None,
        password: str | None = None,
        timeout_s: float = 10.0,
    ) -> None:
        parts = urlsplit(url)
        self._https = parts.scheme == "https"
        self._host = parts.hostname or "127.0.0.1"
        self._port = parts.port or (443 if self._https else 80)
        query: dict[str, str] = {"db": database, "precision": "ns"}
        if retention_policy:
            query["rp"] = retention_policy
        self._path = f"{parts.path.rstrip('/')}/write?{urlencode(query)}"
        self._headers = {"Content-Type": "text/plain; charset=utf-8"}
        if username:
            token = base64.b64encode(f"{username}:{password or ''}".encode()).decode()
            self._headers["Authorization"] = f"Basic {token}"
        self._timeout_s = timeout_s
        self._conn: http.client.HTTPConnection | None = None

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            cls = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
            self._conn = cls(self._host, self._port, timeout=self._timeout_s)
        return self._conn

    def write(self, lines: Sequence[str]) -> None:
        body = "\n".join(lines).encode()
        try:
            conn = self._connection()
            conn.request("POST", self._path, body=body, headers=self._headers)
            response = conn.getresponse()
            detail = response.read().decode("utf-8", "replace")
        except (TimeoutError, OSError, http.client.HTTPException) as exc:
            self.close()  # a half-used keep-alive connection is not reused
            raise RetryableWriteError(f"{type(exc).__name__}: {exc}") from None
        if response.status >= 300:
            raise classify(response.status, detail)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class V2Writer:
    """``/api/v2/write`` through ``influxdb-client`` in synchronous mode (we batch ourselves)."""

    name = "influxdb-v2"

    def __init__(
        self, url: str, token: str | None, org: str, bucket: str, *, timeout_s: float = 10.0
    ) -> None:
        from influxdb_client.client.influxdb_client import InfluxDBClient
        from influxdb_client.client.write_api import SYNCHRONOUS

        # retries=False: the sink owns retry and backoff, so a batch is never sent twice at once.
        self._client: Any = InfluxDBClient(
            url=url, token=token or "", org=org, timeout=int(timeout_s * 1000), retries=False
        )
        self._api: Any = self._client.write_api(write_options=SYNCHRONOUS)
        self._org = org
        self._bucket = bucket

    def write(self, lines: Sequence[str]) -> None:
        from influxdb_client.domain.write_precision import WritePrecision
        from influxdb_client.rest import ApiException

        try:
            self._api.write(
                bucket=self._bucket,
                org=self._org,
                record="\n".join(lines),
                write_precision=WritePrecision.NS,
            )
        except ApiException as exc:
            body = exc.body.decode("utf-8", "replace") if isinstance(exc.body, bytes) else exc.body
            raise classify(int(exc.status or 0), str(body or exc.reason)) from None
        except (OSError, urllib3.exceptions.HTTPError) as exc:
            raise RetryableWriteError(f"{type(exc).__name__}: {exc}") from None

    def close(self) -> None:
        self._client.close()


def writer_for(config: SinkConfig) -> Writer:
    """The writer for ``config.api``; secrets are read here, at the edge (``ConfigError`` when
    a secret file or variable cannot be read)."""
    if config.api == "v2":
        return V2Writer(
            config.url, config.token(), config.org, config.bucket, timeout_s=config.timeout_s
        )
    return V1Writer(
        config.url,
        config.database,
        retention_policy=config.retention_policy,
        username=config.username,
        password=config.password(),
        timeout_s=config.timeout_s,
    )
