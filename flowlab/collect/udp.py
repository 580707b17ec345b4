"""UDP socket helpers of the collector: listen addresses, big receive buffers, kernel drops.

Examples
--------
>>> family, address = parse_listen("[::1]:6343")
>>> family == socket.AF_INET6, address[:2]
(True, ('::1', 6343))
"""

from __future__ import annotations

import errno
import ipaddress
import logging
import os
import socket

import numpy as np

from flowlab.exceptions import CollectorError, ConfigError

__all__ = ["open_socket", "parse_listen", "peer_text", "udp_drops"]

log = logging.getLogger("flowlab.collect.udp")

_SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)


def parse_listen(text: str) -> tuple[int, tuple[object, ...]]:
    """Parse ``HOST:PORT`` (``0.0.0.0:6343``, ``[::]:6343``, ``:6343``) into (family, sockaddr).

    Raises
    ------
    ConfigError
        If the text is not ``HOST:PORT`` or the host does not resolve.
    """
    hint = "expected HOST:PORT such as 0.0.0.0:6343, [::]:6343 or 127.0.0.1:0"
    value = text.strip()
    if value.startswith("["):
        host, sep, port = value[1:].partition("]:")
    else:
        host, sep, port = value.rpartition(":")
        if ":" in host:
            msg = f"bad listen address {text!r}: put IPv6 addresses in brackets; {hint}"
            raise ConfigError(msg)
    if not sep or not port.isdigit() or int(port) > 65535:
        msg = f"bad listen address {text!r}; {hint}"
        raise ConfigError(msg)
    host = host or "0.0.0.0"
    try:
        infos = socket.getaddrinfo(
            host, int(port), type=socket.SOCK_DGRAM, flags=socket.AI_PASSIVE | socket.AI_NUMERICSERV
        )
    except socket.gaierror as exc:
        msg = f"cannot resolve listen host {host!r} ({exc.strerror}); {hint}"
        raise ConfigError(msg) from exc
    family, _, _, _, address = infos[0]
    return int(family), tuple(address)


def open_socket(listen: str, *, rcvbuf: int = 64 << 20) -> tuple[socket.socket, int]:
    """Bind a UDP socket on `listen` with a large receive buffer.

    As root ``SO_RCVBUFFORCE`` lifts the ``net.core.rmem_max`` cap; otherwise
    the kernel may grant less (raise ``net.core.rmem_max`` to get more).

    Returns
    -------
    (socket, int)
        The bound socket and the receive buffer size the kernel reports
        (Linux reports twice the usable payload size: it counts bookkeeping).

    Raises
    ------
    ConfigError, CollectorError
        For a bad address, or when the address cannot be bound (in use, not local, no permission).
    """
    family, address = parse_listen(listen)
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        if rcvbuf > 0:
            try:
                sock.setsockopt(socket.SOL_SOCKET, _SO_RCVBUFFORCE, rcvbuf)
            except OSError:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.bind(address)
    except OSError as exc:
        sock.close()
        why = {
            errno.EADDRINUSE: "the port is in use (another collector?); choose another port",
            errno.EACCES: "ports below 1024 need root; choose a port >= 1024",
            errno.EADDRNOTAVAIL: "the address is not on this machine; use 0.0.0.0 or [::]",
        }.get(exc.errno or 0, "check the address")
        msg = f"cannot listen on udp {listen}: {exc.strerror or exc}; {why}"
        raise CollectorError(msg) from exc
    obtained = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
    if rcvbuf > 0 and obtained < rcvbuf:
        log.warning(
            "receive buffer is %d bytes, asked for %d; as root, or after "
            "`sysctl -w net.core.rmem_max=%d`, bursts are absorbed better",
            obtained,
            rcvbuf,
            rcvbuf,
        )
    return sock, obtained


def udp_drops(sock: socket.socket) -> int | None:
    """Datagrams the kernel dropped for `sock` (receive buffer full), from ``/proc/net/udp[6]``.

    Returns None where the count cannot be read (no procfs, closed socket).

    Examples
    --------
    >>> s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0))
    >>> udp_drops(s)
    0
    >>> s.close()
    """
    try:
        inode = str(os.fstat(sock.fileno()).st_ino)
    except (OSError, ValueError):
        return None
    for table in ("/proc/net/udp", "/proc/net/udp6"):
        try:
            with open(table) as fh:
                next(fh, None)
                for line in fh:
                    fields = line.split()
                    if len(fields) >= 13 and fields[9] == inode:
                        return int(fields[-1])
        except OSError:
            continue
    return None


def peer_text(names: np.ndarray) -> np.ndarray:
    """Sender addresses as text from raw ``sockaddr`` rows (n x 28 bytes), deduplicated first.

    Examples
    --------
    >>> raw = np.zeros((2, 28), dtype=np.uint8)
    >>> raw[:, :2] = np.array([socket.AF_INET], dtype=np.uint16).view(np.uint8)
    >>> raw[:, 4:8] = [127, 0, 0, 1]
    >>> peer_text(raw).tolist()
    ['127.0.0.1', '127.0.0.1']
    """
    n = len(names)
    out = np.empty(n, dtype=object)
    if n == 0:
        return out
    family = np.ascontiguousarray(names[:, :2]).view(np.uint16)[:, 0]
    v4 = family == socket.AF_INET
    if v4.any():
        key = np.ascontiguousarray(names[v4, 4:8]).view(">u4")[:, 0].astype(np.uint32)
        import pandas as pd  # here: the receive process imports this module without pandas

        codes, uniq = pd.factorize(key)
        texts = np.array([str(ipaddress.IPv4Address(int(u))) for u in uniq], dtype=object)
        out[v4] = texts[codes]
    if not v4.all():
        raw6 = np.ascontiguousarray(names[~v4, 8:24])
        key6 = raw6.view(np.dtype((np.void, 16)))[:, 0]
        uniq6, inverse = np.unique(key6, return_inverse=True)
        texts = np.array([_v6_text(bytes(u)) for u in uniq6], dtype=object)
        out[~v4] = texts[np.asarray(inverse).reshape(-1)]
    return out


def _v6_text(raw: bytes) -> str:
    """IPv6 text; IPv4-mapped addresses (a dual-stack ``[::]`` socket) as plain IPv4."""
    address = ipaddress.IPv6Address(raw)
    return str(address.ipv4_mapped or address)
