"""Writing files so that a crash never leaves a half-written file under the final name."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success move it onto ``path`` atomically.

    The caller writes the complete file to the yielded path. If the block raises, the
    temporary file is removed and ``path`` is untouched; otherwise the file is flushed to
    disk and renamed over ``path`` (``os.replace`` is atomic on POSIX file systems).

    Parameters
    ----------
    path
        The final file name.
    suffix
        Ending of the temporary file's name.
    """
    final = Path(path)
    # A unique name, so that two processes writing the same file never share a temporary.
    handle, name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=suffix, dir=final.parent)
    os.close(handle)
    temporary = Path(name)
    try:
        yield temporary
        commit(temporary, final)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def commit(temporary: str | os.PathLike, final: str | os.PathLike) -> Path:
    """Flush ``temporary`` to disk and rename it to ``final`` atomically."""
    temporary, final = Path(temporary), Path(final)
    with open(temporary, "rb+") as handle:
        os.fsync(handle.fileno())
    os.replace(temporary, final)
    directory = os.open(final.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
    return final


@contextmanager
def exclusive(path: str | os.PathLike, what: str = "run") -> Iterator[Path]:
    """Hold an exclusive lock on ``path`` for the block: one writer of an output at a time.

    The lock is a file ``<path>.lock`` locked with ``flock`` (released by the system when the
    process ends, even on SIGKILL) and removed when the block ends.

    Parameters
    ----------
    path
        The output to protect (a model file, a grid being built).
    what
        What holds the lock, for the message (``"training run"``).

    Raises
    ------
    FileExistsError
        Naming ``path``, if another process holds the lock.
    """
    import fcntl

    final = Path(path)
    lock = final.with_name(final.name + ".lock")
    while True:
        handle = open(lock, "a+")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise FileExistsError(
                f"{final}: another {what} is writing this output now; wait for it to end or "
                f"choose another --out"
            ) from None
        try:
            same = os.fstat(handle.fileno()).st_ino == os.stat(lock).st_ino
        except FileNotFoundError:
            same = False
        if same:  # not a lock file that its last holder removed while this one opened it
            break
        handle.close()
    try:
        yield lock
    finally:
        lock.unlink(missing_ok=True)
        handle.close()
