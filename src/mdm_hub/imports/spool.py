"""A staged upload's bytes while the readers go through them, never in clear on disk.

Staging reads the job's file (kept sealed in ``import_file_chunks``) row by row, and the
readers need it as a file they can read more than once (the header detection, then the rows).
The pieces are copied into an unnamed temporary file (``tempfile.TemporaryFile``: no name in
the temporary folder), each sealed with AES-GCM under a key made for this spool alone and kept
only in this object's memory: what the file holds cannot be read by anyone who reads the disk,
during staging or after a crash, and it is gone when the spool is closed or the process ends.
"""

from __future__ import annotations

import io
import os
import tempfile
from types import TracebackType
from typing import IO, Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_NONCE = 12


class SealedSpool:
    """Bytes written in pieces, stored sealed in a temporary file, read back in clear."""

    def __init__(self, name: str) -> None:
        self.name = name  # the uploaded file's name (its suffix tells the format)
        self.size = 0
        self._aead = AESGCM(AESGCM.generate_key(bit_length=256))
        self._file = tempfile.TemporaryFile(prefix="mdm-import-")  # noqa: SIM115 (closed by close)
        self._pieces: list[tuple[int, int]] = []  # (offset, stored length) of each piece
        self._end = 0

    def write(self, data: bytes) -> None:
        if not data:
            return
        nonce = os.urandom(_NONCE)
        blob = nonce + self._aead.encrypt(nonce, data, None)
        os.pwrite(self._file.fileno(), blob, self._end)
        self._pieces.append((self._end, len(blob)))
        self._end += len(blob)
        self.size += len(data)

    def piece(self, index: int) -> bytes | None:
        """The ``index``-th piece in clear (None past the last)."""
        if index >= len(self._pieces):
            return None
        offset, length = self._pieces[index]
        blob = os.pread(self._file.fileno(), length, offset)
        return self._aead.decrypt(blob[:_NONCE], blob[_NONCE:], None)

    def open(self) -> IO[bytes]:
        """A reader from the first byte (readers are independent of each other)."""
        return io.BufferedReader(_Reader(self), buffer_size=64 * 1024)

    def read_all(self) -> bytes:
        """Every byte in clear, in memory (for the Excel reader, which holds a whole sheet in
        memory anyway)."""
        return b"".join(self.piece(i) or b"" for i in range(len(self._pieces)))

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> SealedSpool:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class _Reader(io.RawIOBase):
    """Reads a spool from its start, one piece decrypted at a time."""

    def __init__(self, spool: SealedSpool) -> None:
        self._spool = spool
        self._next = 0
        self._piece = b""
        self._at = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while self._at >= len(self._piece):
            piece = self._spool.piece(self._next)
            if piece is None:
                return 0
            self._piece, self._at, self._next = piece, 0, self._next + 1
        view = memoryview(buffer).cast("B")
        n = min(len(view), len(self._piece) - self._at)
        view[:n] = self._piece[self._at : self._at + n]
        self._at += n
        return n
