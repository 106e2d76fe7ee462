"""Free loopback ports for lab processes (Asterisk, sipp, FastAGI, AMI, web) that run side by side.

A port is handed out only when
  * binding it on TCP *and* UDP succeeds right now (bind-and-release),
  * this process has not handed it out before (per-process reservation set), and
  * no other live process holds a lease on it: a lease is a file in a shared folder
    (``$IVR_PORT_LEASES`` or ``<tmp>/ivr-lab-ports``) naming the owner's pid and start time,
    written under the folder's flock. Leases of dead processes are taken over and pruned.

Single ports come from 10000-19999, below the kernel's ephemeral range, so that outgoing
connections never grab them between our check and the server's bind. RTP ranges (blocks of e.g.
200 ports) are drawn at random from 20000-59999, preferring the part outside the ephemeral range.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import random
import socket
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

SINGLE_LO, SINGLE_HI = 10000, 20000  # [lo, hi)
RTP_LO, RTP_HI = 20000, 60000

_lock = threading.Lock()
_reserved: set[int] = set()
_pruned = False


@dataclass(frozen=True)
class PortRange:
    """An inclusive port range ``start..end``."""

    start: int
    end: int

    def __len__(self) -> int:
        return self.end - self.start + 1

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.start, self.end + 1))


def _lease_dir() -> Path:
    d = Path(os.environ.get("IVR_PORT_LEASES") or Path(tempfile.gettempdir()) / "ivr-lab-ports")
    d.mkdir(parents=True, exist_ok=True)
    return d


def _proc_start(pid: int) -> str:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    # field 22 (starttime), after the parenthesised command name
    return stat.rsplit(")", 1)[1].split()[19]


def _me() -> str:
    return f"{os.getpid()} {_proc_start(os.getpid())}"


def _lease_alive(text: str) -> bool:
    try:
        pid_s, start = text.split()
        pid = int(pid_s)
    except ValueError:
        return False  # half-written or garbage: treat as stale
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return _proc_start(pid) == start


@contextlib.contextmanager
def _leases_locked() -> Iterator[Path]:
    """Hold the lease folder's flock (all processes); prune dead owners' leases once per process."""
    global _pruned
    d = _lease_dir()
    with open(d / ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not _pruned:
                _pruned = True
                for entry in d.iterdir():
                    if not entry.name.startswith("."):
                        with contextlib.suppress(OSError):
                            if not _lease_alive(entry.read_text()):
                                entry.unlink()
            yield d
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _take_lease(key: str) -> bool:
    """Create (or take over from a dead owner) the lease ``key``. Call with the flock held."""
    path = _lease_dir() / key
    with contextlib.suppress(FileNotFoundError):
        text = path.read_text()
        if _lease_alive(text):
            return text == _me()
    path.write_text(_me())
    return True


def _drop_lease(key: str) -> None:
    path = _lease_dir() / key
    try:
        if path.read_text() == _me():
            path.unlink()
    except FileNotFoundError:
        pass


def _bindable(port: int, host: str) -> bool:
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        s = socket.socket(socket.AF_INET, kind)
        try:
            if kind == socket.SOCK_STREAM:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((host, port))
        except OSError as e:
            if e.errno in (errno.EADDRINUSE, errno.EACCES, errno.EADDRNOTAVAIL):
                return False
            raise
        finally:
            s.close()
    return True


def _ephemeral() -> tuple[int, int]:
    try:
        lo, hi = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(lo), int(hi)
    except (OSError, ValueError):
        return 32768, 60999


def free_range(count: int, lo: int, hi: int, *, align: int = 1, host: str = "127.0.0.1",
               attempts: int = 400) -> PortRange:
    """Reserve ``count`` consecutive ports inside [lo, hi), start aligned to ``align``.

    Each port is checked bindable on TCP and UDP on ``host`` (and 0.0.0.0 when host is loopback,
    because Asterisk/sipp may bind the wildcard address).
    """
    if count < 1 or hi - lo < count:
        raise ValueError(f"cannot fit {count} ports in [{lo}, {hi})")
    eph_lo, eph_hi = _ephemeral()
    starts = [s for s in range(lo - lo % align + (align if lo % align else 0), hi - count + 1, align)]
    outside = [s for s in starts if s + count - 1 < eph_lo or s > eph_hi]
    outside_set = set(outside)
    inside = [s for s in starts if s not in outside_set]
    random.shuffle(outside)
    random.shuffle(inside)
    hosts = [host] if host == "0.0.0.0" else [host, "0.0.0.0"]
    for start in (outside + inside)[:attempts]:
        ports = range(start, start + count)
        with _lock, _leases_locked():
            if any(p in _reserved for p in ports):
                continue
            key = f"{start}-{start + count - 1}" if count > 1 else str(start)
            # Leases are per block; also refuse blocks overlapping another live block lease.
            if _overlaps_live_lease(start, start + count - 1):
                continue
            if not all(_bindable(p, h) for p in ports for h in hosts):
                continue
            if _take_lease(key):
                _reserved.update(ports)
                return PortRange(start, start + count - 1)
    raise RuntimeError(f"no free block of {count} ports in [{lo}, {hi}) after {attempts} tries")


def _overlaps_live_lease(a: int, b: int) -> bool:
    for entry in _lease_dir().iterdir():
        name = entry.name
        if name.startswith("."):
            continue
        lo_s, _, hi_s = name.partition("-")
        try:
            lo, hi = int(lo_s), int(hi_s or lo_s)
        except ValueError:
            continue
        if lo <= b and a <= hi:
            try:
                if _lease_alive(entry.read_text()):
                    return True
            except FileNotFoundError:
                continue
    return False


def free_port(host: str = "127.0.0.1") -> int:
    """One port free on both TCP and UDP (SIP, AMI, FastAGI, HTTP)."""
    return free_range(1, SINGLE_LO, SINGLE_HI, host=host).start


def free_ports(n: int, host: str = "127.0.0.1") -> list[int]:
    """``n`` distinct free ports (not necessarily consecutive)."""
    return [free_port(host) for _ in range(n)]


def free_block(count: int, host: str = "127.0.0.1") -> PortRange:
    """Consecutive even-aligned ports among the single-port range (e.g. a sipp media port + 3)."""
    return free_range(count, SINGLE_LO, SINGLE_HI, align=2, host=host)


def rtp_range(count: int = 200, host: str = "0.0.0.0") -> PortRange:
    """A random even-aligned RTP port range for one Asterisk instance (rtp.conf)."""
    return free_range(count, RTP_LO, RTP_HI, align=2, host=host)


def release(ports: PortRange | int) -> None:
    """Give ports back (optional: leases of a process end with it)."""
    r = PortRange(ports, ports) if isinstance(ports, int) else ports
    with _lock, _leases_locked():
        _reserved.difference_update(r)
        _drop_lease(f"{r.start}-{r.end}" if len(r) > 1 else str(r.start))
