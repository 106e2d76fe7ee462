"""ivr: published-number routing server for Asterisk."""

__version__ = "0.1.0"
