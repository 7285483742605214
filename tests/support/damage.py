"""Damaged roots for hardening tests: a small tmpfs that fills up, immutable folders.

Mounting and `chattr` need root (the suite runs as root on the project's machines); the helpers
skip the test with the reason when they cannot do it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

PAGE = os.sysconf("SC_PAGE_SIZE")


def need_root(what: str) -> None:
    if os.geteuid() != 0:
        pytest.skip(f"{what} needs root (mount/chattr); the suite runs as root on the project's machines")


@contextlib.contextmanager
def small_tmpfs(mount_point: Path, size: str = "64k") -> Iterator[Path]:
    """A tmpfs of `size` mounted at `mount_point` for the duration; skips when it cannot be mounted."""
    need_root("a small tmpfs")
    mount_point.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount_point)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip() or done.returncode}")
    try:
        yield mount_point
    finally:
        # Lazy: a descriptor kept open by the code under test (the approval log's) must not block it.
        subprocess.run(["umount", "-l", str(mount_point)], capture_output=True)


def fill_up(folder: Path) -> Path:
    """Write a filler file until the file system refuses more bytes; returns the filler."""
    filler = folder / "filler.bin"
    with open(filler, "wb", buffering=0) as handle:
        while True:
            try:
                handle.write(b"\0" * PAGE)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
                break
    return filler


def free_space(filler: Path) -> None:
    filler.unlink()


@contextlib.contextmanager
def immutable(path: Path) -> Iterator[Path]:
    """`chattr +i` on `path` for the duration; skips when the file system does not support it."""
    need_root("chattr +i")
    if shutil.which("chattr") is None:
        pytest.skip("chattr is not installed (Debian package e2fsprogs)")
    done = subprocess.run(["chattr", "+i", str(path)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"chattr +i is not supported here: {done.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["chattr", "-i", str(path)], capture_output=True)
