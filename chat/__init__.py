"""Salon: a self-hosted team chat server with topic channels."""

__version__ = "0.1.0"
