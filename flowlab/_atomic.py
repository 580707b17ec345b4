"""The one atomic file writer of flowlab: a file appears complete under its name, or not at all.

Every output flowlab writes (capture part files, ``flowlab read`` outputs,
:func:`flowlab.elastic.load.load_flows_to_parquet`) goes through
:class:`AtomicFile`: bytes go to a hidden temporary name beside the target
(``.NAME.tmp``), are flushed to disk (``fsync``) and renamed into place
(``os.replace``). Any failure while writing — ``ENOSPC``, ``EROFS``, ``EIO``,
or the Polars/pyarrow error that wraps one — removes the temporary file and
raises one :class:`~flowlab.exceptions.OutputError` that names the file and the
cause.

Examples
--------
>>> import tempfile, pathlib
>>> target = pathlib.Path(tempfile.mkdtemp()) / "out.txt"
>>> out = AtomicFile(target)
>>> out.run(lambda fh: fh.write(b"hello"))
5
>>> target.exists()
False
>>> out.commit()
5
>>> target.read_bytes()
b'hello'
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Callable
from pathlib import Path
from typing import IO, TYPE_CHECKING, TypeVar

from flowlab.exceptions import FlowlabError, OutputError

if TYPE_CHECKING:
    from typing_extensions import Buffer

__all__ = ["AtomicFile"]

T = TypeVar("T")


class AtomicFile:
    """A file written beside its target and renamed into place when complete.

    Parameters
    ----------
    path : str or Path
        The target (its directory is created if missing).

    Raises
    ------
    OutputError
        If the temporary file cannot be created.

    Notes
    -----
    Call :meth:`run` for every operation that writes into the file (it
    translates any failure into an :class:`~flowlab.exceptions.OutputError`
    and drops the temporary file), then :meth:`commit`; :meth:`abort` (idempotent)
    drops an unfinished file.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        #: The hidden temporary name the bytes are written to.
        self.tmp = self.path.with_name(f".{self.path.name}.tmp")
        self._fh: IO[bytes] | None = None
        self._raw: _File | None = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._raw = _File(self.tmp, "wb")
            self._fh = io.BufferedWriter(self._raw)
        except Exception as exc:
            raise self._failed(exc) from exc

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"AtomicFile({str(self.path)!r}, {state})"

    @property
    def closed(self) -> bool:
        """Whether the file was committed or aborted."""
        return self._fh is None

    @property
    def file(self) -> IO[bytes]:
        """The open temporary file."""
        if self._fh is None:
            msg = f"{self.path}: the file was already committed or aborted"
            raise OutputError(msg)
        return self._fh

    def run(self, write: Callable[[IO[bytes]], T]) -> T:
        """Call ``write(file)``; any failure aborts the file and raises :class:`OutputError`."""
        fh = self.file
        try:
            return write(fh)
        except FlowlabError:
            self.abort()
            raise
        except Exception as exc:
            self.abort()
            raise self._failed(exc) from exc

    def commit(self) -> int:
        """Flush to disk and rename into place; returns the file's size in bytes."""
        fh = self.file
        try:
            fh.flush()
            os.fsync(fh.fileno())
            fh.close()
            self._fh = None
            size = self.tmp.stat().st_size
            os.replace(self.tmp, self.path)
        except Exception as exc:
            self.abort()
            raise self._failed(exc) from exc
        _fsync_dir(
            self.path.parent
        )  # the file is in place: a failure here must not make a retry write it twice
        return size

    def abort(self) -> None:
        """Drop the unfinished file (idempotent; never raises for an I/O error)."""
        if self._fh is not None:
            with contextlib.suppress(OSError):
                self._fh.close()
            self._fh = None
        with contextlib.suppress(OSError):
            self.tmp.unlink(missing_ok=True)

    def _failed(self, exc: BaseException) -> OutputError:
        # Polars and pyarrow wrap a failed write of the file in their own errors (Polars: "Invalid
        # thrift: transport error"); the file itself saw the OSError that names the cause
        if self._raw is not None and self._raw.error is not None:
            exc = self._raw.error
        if isinstance(exc, OSError) and exc.strerror:
            cause = exc.strerror
        else:
            cause = f"{type(exc).__name__}: {str(exc).strip() or 'no detail'}"
        return OutputError(f"cannot write {self.path}: {cause}")


class _File(io.FileIO):
    """A raw file that remembers the OSError of a failed write (a library may hide it)."""

    error: OSError | None = None

    def write(self, data: Buffer, /) -> int:
        try:
            return super().write(data)
        except OSError as exc:
            self.error = exc
            raise


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
