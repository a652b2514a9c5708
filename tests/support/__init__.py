"""Shared test support: real servers (Mosquitto, PostgreSQL) started on free loopback ports."""
