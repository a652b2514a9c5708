"""jishi (机时): measure how much large scientific instruments are really used.

This package holds the ``jishi`` command (``cli``, ``cli_parts``), the demo, and the bottom
layer every part shares: ``states`` (the state set and its precedence), ``errors``
(``JishiError`` and config errors), ``mqtt`` (settings) and ``mqtt_client`` (the paho client),
``backoff``, ``config`` (TOML loading with errors naming file and key), ``logs`` and
``gctune``. The parts are installed beside it as ``jishi.agent``, ``jishi.drivers``,
``jishi.collector`` and ``jishi.firmware_bridge``.
"""

__version__ = "0.1.0"
