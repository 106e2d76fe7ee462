"""Start a program that may never start another one: ``python3 noexec.py ROOT PROGRAM ARGS…``.

Chroots into ROOT (``/``: none), then installs a seccomp filter under which ``execve`` succeeds
only for the very string this process hands it (the filter compares the pathname *pointer*, the
known trick to allow exactly one exec) and ``execveat`` never, then runs PROGRAM. PROGRAM and
everything it forks inherit the filter: Asterisk can no longer run any program, so
``Originate … Application=AGI Data=/bin/sh,-c,…`` (possible with the AMI ``system`` class the
controller needs) and the ``ld.so /bin/sh`` detour both fail with EPERM. Asterisk needs no
exec in this deployment (FastAGI is a network call; no System(), no voicemail notify script).

Standalone on purpose (standard library only): the Asterisk container copies this file and runs
it with its own python3 (docker/asterisk/entrypoint.sh); the lab runs it the same way
(ivr/lab/asterisk.py). Linux x86_64 and aarch64.
"""

from __future__ import annotations

import ctypes
import os
import platform
import struct
import sys

# (audit arch, execve, execveat) per machine
ARCHES = {"x86_64": (0xC000003E, 59, 322), "aarch64": (0xC00000B7, 221, 281)}
PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 38, 22, 2
RET_ALLOW, RET_EPERM = 0x7FFF0000, 0x00050000 | 1
LD_ABS_W, JEQ_K, JGE_K, RET_K = 0x20, 0x15, 0x35, 0x06


def _insn(code: int, jt: int, jf: int, k: int) -> bytes:
    return struct.pack("HBBI", code, jt, jf, k)


def filter_program(machine: str, path_address: int) -> bytes:
    """The classic-BPF program: foreign arch and x32 denied, execveat denied, execve allowed
    only with ``path_address`` as its first argument, everything else allowed."""
    arch, execve, execveat = ARCHES[machine]
    lo, hi = path_address & 0xFFFFFFFF, path_address >> 32
    return b"".join([
        _insn(LD_ABS_W, 0, 0, 4),             # 0 arch
        _insn(JEQ_K, 1, 0, arch),             # 1 native → 3
        _insn(RET_K, 0, 0, RET_EPERM),        # 2
        _insn(LD_ABS_W, 0, 0, 0),             # 3 syscall number
        _insn(JGE_K, 7, 0, 0x40000000),       # 4 x32 ABI → deny (12)
        _insn(JEQ_K, 6, 0, execveat),         # 5 → deny (12)
        _insn(JEQ_K, 0, 4, execve),           # 6 not execve → allow (11)
        _insn(LD_ABS_W, 0, 0, 16),            # 7 pathname pointer, low half
        _insn(JEQ_K, 0, 3, lo),               # 8 other → deny (12)
        _insn(LD_ABS_W, 0, 0, 20),            # 9 high half
        _insn(JEQ_K, 0, 1, hi),               # 10 other → deny (12)
        _insn(RET_K, 0, 0, RET_ALLOW),        # 11
        _insn(RET_K, 0, 0, RET_EPERM),        # 12
    ])


class _Prog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def exec_without_exec(root: str, argv: list[str]) -> None:
    """Never returns: chroot, filter, execve(argv) with the current environment."""
    machine = platform.machine()
    if machine not in ARCHES:
        raise SystemExit(f"noexec: no seccomp filter for {machine}")
    libc = ctypes.CDLL(None, use_errno=True)
    if root != "/":
        os.chroot(root)
        os.chdir("/")
    path = ctypes.create_string_buffer(argv[0].encode())
    args = (ctypes.c_char_p * (len(argv) + 1))(*[a.encode() for a in argv], None)
    env = [f"{k}={v}".encode() for k, v in os.environ.items()]
    envp = (ctypes.c_char_p * (len(env) + 1))(*env, None)
    code = ctypes.create_string_buffer(filter_program(machine, ctypes.addressof(path)))
    prog = _Prog(len(code.raw) // 8, ctypes.addressof(code))
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 or \
            libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(prog), 0, 0) != 0:
        raise SystemExit(f"noexec: seccomp: {os.strerror(ctypes.get_errno())}")
    libc.execve(path, args, envp)
    raise SystemExit(f"noexec: cannot run {argv[0]}: {os.strerror(ctypes.get_errno())}")


if __name__ == "__main__":
    if len(sys.argv) < 3:
        raise SystemExit("usage: noexec.py ROOT PROGRAM [ARGS…]")
    exec_without_exec(sys.argv[1], sys.argv[2:])
