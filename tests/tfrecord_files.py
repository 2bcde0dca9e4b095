"""TFRecord files for tests, framed as TensorFlow writes them (every length and record with its checksum)."""

from __future__ import annotations

import struct
from collections.abc import Iterable
from pathlib import Path

from runners.store.tfma_files import masked_crc


def tfrecord_bytes(records: Iterable[bytes]) -> bytes:
    """The bytes of a TFRecord file holding `records`."""
    out = b""
    for data in records:
        length = struct.pack("<Q", len(data))
        out += length + masked_crc(length) + data + masked_crc(data)
    return out


def write_tfrecords(path: Path, records: Iterable[bytes]) -> None:
    """Writes `records` to `path` as a TFRecord file."""
    path.write_bytes(tfrecord_bytes(records))
