"""jishi (机时): measure how much large scientific instruments are really used."""

__version__ = "0.1.0"
