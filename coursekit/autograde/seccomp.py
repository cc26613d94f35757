"""The sandbox's system-call filter, as a classic BPF program written by hand.

bubblewrap loads it (``bwrap --seccomp FD`` reads the raw ``struct
sock_filter`` array from FD) just before it runs the child, with
``no_new_privs`` set; every process the child starts inherits it.  It

- kills the process outright if a call does not come in through the x86_64
  ABI (``int 0x80`` from a 64-bit process enters as i386, with other numbers:
  a deny-list keyed on x86_64 numbers would otherwise miss it), and refuses
  x32 calls (numbers with bit 30 set);
- refuses (EPERM) what could hold memory outside ``RLIMIT_AS`` (memfd, SysV
  shared memory and message queues, io_uring, userfaultfd), reach past the
  sandbox (every socket: the child talks to the grader over inherited pipes),
  inspect or change other processes (ptrace, process_vm_*, pidfd_getfd), or
  touch the kernel's own state (bpf, perf, keys, mounts, namespaces, modules,
  kexec, handles);
- makes ``clone3`` fail with ENOSYS, so glibc falls back to ``clone``, whose
  flags are plain arguments (clone3's live in memory a filter cannot read);
- allows everything else.

Only x86_64 is supported: ``supported()`` says whether this host is one, and
the sandbox runs without the filter (and says so) where it is not.
"""
from __future__ import annotations

import errno
import platform
import struct
import sys

AUDIT_ARCH_X86_64 = 0xC000003E
X32_SYSCALL_BIT = 0x40000000

# x86_64 system call numbers (arch/x86/entry/syscalls/syscall_64.tbl)
DENIED = {
    "socket": 41, "socketpair": 53,
    "shmget": 29, "msgget": 68,
    "ptrace": 101, "process_vm_readv": 310, "process_vm_writev": 311, "pidfd_getfd": 438,
    "memfd_create": 319, "memfd_secret": 447, "userfaultfd": 323,
    "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427,
    "bpf": 321, "perf_event_open": 298,
    "add_key": 248, "request_key": 249, "keyctl": 250,
    "mount": 165, "umount2": 166, "pivot_root": 155, "mount_setattr": 442,
    "open_tree": 428, "move_mount": 429, "fsopen": 430, "fsconfig": 431, "fsmount": 432,
    "fspick": 433,
    "unshare": 272, "setns": 308,
    "name_to_handle_at": 303, "open_by_handle_at": 304,
    "kexec_load": 246, "kexec_file_load": 320,
    "init_module": 175, "finit_module": 313, "delete_module": 176,
}
NOT_IMPLEMENTED = {"clone3": 435}

# linux/filter.h, linux/seccomp.h
_LD_W_ABS = 0x20     # BPF_LD | BPF_W | BPF_ABS
_JEQ_K = 0x15        # BPF_JMP | BPF_JEQ | BPF_K
_JGE_K = 0x35        # BPF_JMP | BPF_JGE | BPF_K
_RET_K = 0x06        # BPF_RET | BPF_K
_RET_KILL_PROCESS = 0x80000000
_RET_ERRNO = 0x00050000
_RET_ALLOW = 0x7FFF0000
_NR, _ARCH = 0, 4    # offsets in struct seccomp_data


def supported() -> bool:
    """This is a 64-bit x86_64 Linux, the only ABI the filter is written for."""
    return (sys.platform.startswith("linux") and platform.machine() == "x86_64"
            and struct.calcsize("P") == 8)


def program() -> bytes:
    """The filter: an array of ``struct sock_filter {u16 code; u8 jt, jf; u32 k}``."""
    ops: list[tuple[int, int | str, int | str, int]] = [
        (_LD_W_ABS, 0, 0, _ARCH),
        (_JEQ_K, 1, 0, AUDIT_ARCH_X86_64),
        (_RET_K, 0, 0, _RET_KILL_PROCESS),
        (_LD_W_ABS, 0, 0, _NR),
        (_JGE_K, "eperm", 0, X32_SYSCALL_BIT),
    ]
    ops += [(_JEQ_K, "eperm", 0, nr) for nr in sorted(DENIED.values())]
    ops += [(_JEQ_K, "enosys", 0, nr) for nr in sorted(NOT_IMPLEMENTED.values())]
    labels = {"allow": len(ops), "eperm": len(ops) + 1, "enosys": len(ops) + 2}
    ops += [(_RET_K, 0, 0, _RET_ALLOW),
            (_RET_K, 0, 0, _RET_ERRNO | errno.EPERM),
            (_RET_K, 0, 0, _RET_ERRNO | errno.ENOSYS)]

    def offset(i: int, target: int | str) -> int:
        if isinstance(target, int):
            return target
        jump = labels[target] - i - 1
        assert 0 <= jump <= 255, "classic BPF jumps are one byte"
        return jump

    return b"".join(struct.pack("=HBBI", code, offset(i, jt), offset(i, jf), k)
                    for i, (code, jt, jf, k) in enumerate(ops))
