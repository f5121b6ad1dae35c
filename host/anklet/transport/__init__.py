"""Transports move frames between the host and a board; they know nothing of samples."""

from .base import LinkLost, Transport, TransportError

__all__ = ["LinkLost", "Transport", "TransportError"]
