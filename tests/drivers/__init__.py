"""Driver tests: pure codecs, real sample files, and real peers (pymodbus, socat ptys)."""
