"""The REST API under ``/api/v1`` (FastAPI): ``app`` builds it from one router per area
(``instruments``, ``usage``, ``sessions``, ``reports``, ``health``), ``auth`` checks bearer
tokens and ``tokens`` stores them hashed."""
