"""Checking the address ``ncf serve`` binds, before anything heavy loads (no torch, no FastAPI)."""

from __future__ import annotations

import errno
import socket

__all__ = ["check_port"]


def check_port(host: str, port: int) -> None:
    """OSError with one line when ``host:port`` cannot be bound (in use, or not an address of
    this machine), before the model loads and instead of uvicorn's multi-line log."""
    if port == 0:
        return
    try:
        addresses = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise OSError(f"cannot serve on {host}: {exc.strerror}") from None
    family, kind, proto, _, address = addresses[0]
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
        try:
            sock.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise OSError(f"port {port} on {host} is already in use (another server?): "
                              f"stop it or choose another with --port") from None
            raise OSError(f"cannot serve on {host}:{port}: {exc.strerror or exc}") from None
