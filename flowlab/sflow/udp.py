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

log = logging.getLogger("flowlab.sflow.udp")

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
    if len(names) == 0:
        return np.array([], dtype=object)
    family = names[:, :2].copy().view(np.uint16)[:, 0]
    key = np.zeros((len(names), 17), dtype=np.uint8)
    v4 = family == socket.AF_INET
    key[v4, 0] = 4
    key[v4, 1:5] = names[v4, 4:8]
    key[~v4, 0] = 6
    key[~v4, 1:17] = names[~v4, 8:24]
    uniq, inverse = np.unique(key, axis=0, return_inverse=True)
    texts = np.empty(len(uniq), dtype=object)
    for i, row in enumerate(uniq):
        raw = bytes(row[1:5]) if row[0] == 4 else bytes(row[1:17])
        texts[i] = str(ipaddress.ip_address(raw))
    return texts[np.asarray(inverse).reshape(-1)]
