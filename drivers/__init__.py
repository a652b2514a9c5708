"""Readers of raw instrument signals; each yields readings through one small contract."""
