"""All or nothing on stdout: every kfkrm command writes its output through `write_stdout`.

The bytes go to the file descriptor in a loop until every one is written; a short write,
ENOSPC, EFBIG (a file-size limit), EPIPE or a closed pipe raises OutputError, which the
command turns into one line on stderr and a non-zero exit, never its success summary.
SIGXFSZ is ignored (`ignore_fsize_signal`) so a file-size limit is an error, not a core dump.
"""

from __future__ import annotations

import errno
import os
import signal
import sys

# errnos that mean "the output did not reach its reader"
WRITE_ERRNOS = {errno.EPIPE, errno.ENOSPC, errno.EFBIG, errno.EIO, errno.EDQUOT, errno.EBADF, errno.EINVAL}
_WHY = {
    errno.EPIPE: "the reader closed the pipe",
    errno.ENOSPC: "no space left on the device",
    errno.EFBIG: "the file-size limit was reached",
    errno.EDQUOT: "the disk quota was reached",
}


class OutputError(Exception):
    """The output could not be written in full (the one-line reason is the message)."""


def describe(e: OSError) -> str:
    return _WHY.get(e.errno or 0) or (e.strerror or str(e))


def ignore_fsize_signal() -> None:
    """A write beyond RLIMIT_FSIZE then fails with EFBIG instead of killing the process."""
    if hasattr(signal, "SIGXFSZ"):
        try:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        except ValueError:  # not the main thread (tests calling main() in a thread)
            pass


def write_stdout(text: str | bytes) -> int:
    """Write all of `text` to stdout or raise OutputError; returns the number of bytes."""
    data = text.encode("utf-8") if isinstance(text, str) else text
    try:
        sys.stdout.flush()  # anything print()ed before goes first
        fd = sys.stdout.fileno()
        view = memoryview(data)
        while view:
            n = os.write(fd, view)
            if n <= 0:
                raise OSError(errno.EIO, "short write")
            view = view[n:]
    except OSError as e:
        raise OutputError(f"cannot write the output ({describe(e)}); it is incomplete") from None
    return len(data)


def document_count(text: str) -> int:
    """Documents in a kustomize-style stream: `---` lines between them (a document's own
    lines are never a bare `---`: block content is indented)."""
    if not text.strip():
        return 0
    return sum(1 for line in text.split("\n") if line == "---") + 1


def silence_stdout() -> None:
    """After a failed write: point stdout at /dev/null so Python's flush at exit cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
