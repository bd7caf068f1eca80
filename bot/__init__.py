"""Aula's command core. Knows no platform: adapters translate to and from it."""

__version__ = "0.1.0"
