"""An MQTT broker inside the process (amqtt), for ``jishi demo`` only.

amqtt speaks MQTT 3.1.1 and does not persist anonymous sessions, so the demo's collector
connects with a username to get queued delivery. Production uses Mosquitto or EMQX.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

from jishi.errors import JishiError

log = logging.getLogger(__name__)


class EmbeddedBroker:
    """Runs an amqtt broker on ``127.0.0.1:port`` in a background thread with its own loop."""

    def __init__(self, port: int, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._broker: Any = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    def start(self, timeout: float = 15.0) -> EmbeddedBroker:
        self._thread = threading.Thread(target=self._run, name="embedded-broker", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise JishiError(f"the embedded MQTT broker did not start within {timeout:.0f} s")
        if self._error is not None:
            raise JishiError(
                f"the embedded MQTT broker could not listen on {self.host}:{self.port}: "
                f"{self._error}; choose another port with --mqtt-port"
            )
        return self

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._start())
        except BaseException as exc:  # reported to the starting thread
            self._error = exc
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        loop.run_forever()
        loop.close()

    async def _start(self) -> None:
        from amqtt.broker import Broker

        config = {
            "listeners": {"default": {"type": "tcp", "bind": f"{self.host}:{self.port}"}},
            "plugins": {
                "amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True},
            },
        }
        self._broker = Broker(config)
        await self._broker.start()

    def stop(self, timeout: float = 10.0) -> None:
        loop, broker = self._loop, self._broker
        if loop is None or broker is None or not loop.is_running():
            return
        future = asyncio.run_coroutine_threadsafe(broker.shutdown(), loop)
        try:
            future.result(timeout)
        except Exception:  # shutting down: report, do not raise
            log.debug("embedded broker shutdown raised", exc_info=True)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(timeout)
