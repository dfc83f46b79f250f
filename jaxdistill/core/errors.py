"""The ways a run ends early that a user must be told about in one line, and how a command line says it.

Library code raises these; the command-line entry points (:func:`experiments.common.run_cli`) turn each into
one line on stderr and an exit status, never a traceback:

* :class:`RunError` and its kinds (an unusable run directory, a mismatched resume, a run that went
  non-finite): ``<prog>: error: <message>``, exit 1.
* :class:`RunInterrupted` (SIGINT / SIGTERM, after the checkpoint is written): the exact command that
  continues the run, exit ``128 + signal`` as a shell reports a signalled process.
* A full disk anywhere below (:func:`disk_full_path`): ``no space left on device writing <path>``, exit 1.
"""

from __future__ import annotations

import errno
import signal
from pathlib import Path


class RunError(Exception):
    """A run that cannot start or go on, for a reason the message gives in one line."""


class RunDirError(RunError, ValueError):
    """The run directory cannot be used: not writable, or it holds another run."""


class ResumeError(RunError, ValueError):
    """``--resume`` asked for a checkpoint that does not belong to this configuration."""


class NonFiniteError(RunError):
    """The run's state (its dataset, its parameters) became NaN or infinite; nothing was written from it."""


class DiskFullError(RunError, OSError):
    """A write failed because the device is full; ``path`` is where it was writing."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        super().__init__(errno.ENOSPC, f"no space left on device writing {self.path}")

    def __str__(self) -> str:
        return self.strerror


class RunInterrupted(Exception):
    """A run stopped by a signal before its budget; its last finished chunk is checkpointed (where the run has
    checkpoints). ``resume_flag`` says whether the command continues with ``--resume`` (a single run) or as it
    is (a study that reuses what it wrote)."""

    def __init__(self, what: str, signum: int = signal.SIGINT, resume_flag: bool = True,
                 run_dir: Path | None = None):
        self.what, self.signum, self.resume_flag, self.run_dir = what, int(signum), resume_flag, run_dir
        super().__init__(what)

    @property
    def exit_status(self) -> int:
        return 128 + self.signum

    @property
    def signal_name(self) -> str:
        try:
            return signal.Signals(self.signum).name
        except ValueError:
            return f"signal {self.signum}"


_NO_SPACE = ("No space left on device", "ENOSPC", "Disk quota exceeded")


def disk_full_path(error: BaseException) -> Path | str | None:
    """Where a full disk stopped ``error`` (or an error it was raised from), "" when the chain does not say
    where, None when the chain holds no full-disk error. Libraries (orbax, tensorstore, h5py) re-raise a full
    disk as their own exception types, some with only the message left, so the message counts too."""
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, DiskFullError):
            return error.path
        if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
            return error.filename or ""
        if any(s in str(error) for s in _NO_SPACE):
            return getattr(error, "filename", None) or ""
        error = error.__cause__ or error.__context__
    return None
