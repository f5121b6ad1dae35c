"""Transports move frames between the host and a board; they know nothing of samples."""

from .base import LinkLost, Transport, TransportError
from .ports import PortBusy, PortDenied, PortError, PortNotFound

__all__ = [
    "LinkLost",
    "PortBusy",
    "PortDenied",
    "PortError",
    "PortNotFound",
    "Transport",
    "TransportError",
]
