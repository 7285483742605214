"""`FileWatch`: "may this file have changed since I last looked?" for one fstat per question.

The meta agent asks this of the policy file and the transaction log before every decision. A path
`stat` walks the path each time; an `fstat` of a descriptor kept open on the file does not. An
unchanged (size, mtime, ctime, link count) of the kept file means it was neither written,
truncated, renamed, linked nor unlinked (each of those moves its ctime or link count), so the path
still names that same unchanged file. Anything else, or no file, answers "maybe": the caller then
does its usual path stat and read, and the watch reopens the path (which may name another file now).

The one change this cannot see is a directory above the file being swapped for another while the
old file stays untouched in it; the caller's own check runs again as soon as the old file changes.
"""

from __future__ import annotations

import os

# Bumped in a forked child: a descriptor inherited from the parent is then opened again (a counter
# read is cheaper than the getpid system call before every question).
_FORKS = [0]


def fork_generation() -> int:
    """How many forks separate this process from the one that imported the module."""
    return _FORKS[0]


def _after_fork() -> None:
    _FORKS[0] += 1


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)


class FileWatch:
    """A descriptor kept on `path` and the metadata seen at the last question."""

    __slots__ = ("_fd", "_pid", "_seen", "absent", "path")

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self._fd: int | None = None
        self._pid = -1  # the fork generation that opened `_fd`
        self._seen: tuple[int, int, int, int] | None = None
        self.absent = False  # the last question found no file to open (the caller may skip its stat)

    def maybe_changed(self) -> bool:
        """False only when the file is certainly as it was at the previous call."""
        fd = self._fd
        if fd is not None and self._pid == _FORKS[0]:
            try:
                stat = os.fstat(fd)
            except OSError:
                stat = None
            if stat is not None and (stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_nlink) == self._seen:
                return False
        # Changed, or no longer (or not yet) open: follow the path again, which may name another file now.
        self._reopen()
        return True

    def _reopen(self) -> None:
        self.close()
        try:
            # O_NONBLOCK: a FIFO put where the file belongs must not block here; the reader refuses it.
            fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
        except FileNotFoundError:
            self.absent = True
            return
        except OSError:
            return  # absent (or unreadable): every question is "maybe" until it can be opened
        self.absent = False
        self._fd = fd
        self._pid = _FORKS[0]
        stat = os.fstat(fd)
        self._seen = (stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_nlink)

    def close(self) -> None:
        fd, self._fd, self._seen, self.absent = self._fd, None, None, False
        if fd is not None and self._pid == _FORKS[0]:
            try:
                os.close(fd)
            except OSError:
                pass

    def __del__(self) -> None:
        self.close()
