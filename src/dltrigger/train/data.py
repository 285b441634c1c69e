"""What a training process reads: its own shard of the feature Parquet, streamed in batches of numpy
arrays (no collect to the driver, no Python loop over events). Shared by the training engines."""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from typing import Iterator

import numpy as np

from ..ingest import numpy_of_lists

ID_COLUMNS = ("source_file", "entry", "event_number")


@dataclass
class Dataset:
    """The Parquet parts of a feature directory and their row counts, in file order."""

    directory: str
    parts: list[tuple[str, int]]

    @classmethod
    def open(cls, directory: str) -> "Dataset":
        import pyarrow.parquet as pq

        paths = sorted(glob.glob(os.path.join(directory, "part-*.parquet")))
        return cls(directory, [(path, pq.ParquetFile(path).metadata.num_rows) for path in paths])

    @property
    def rows(self) -> int:
        return sum(rows for _, rows in self.parts)

    def shard(self, rank: int, world: int, equal: bool) -> tuple[int, int]:
        """Row range of process ``rank``: contiguous blocks; ``equal`` drops the last rows (< world) so
        that every process runs the same number of steps, as data-parallel training needs."""
        total = self.rows
        if equal:
            size = total // world
            return rank * size, (rank + 1) * size
        return rank * total // world, (rank + 1) * total // world

    def batches(self, start: int, stop: int, batch_size: int, columns) -> Iterator[dict]:
        """Rows [start, stop) in batches of ``batch_size`` (the last one may be smaller), as numpy arrays:
        list columns as (n, ...) float arrays, the others as 1-d arrays."""
        import pyarrow.parquet as pq

        pending, pending_rows, offset = [], 0, 0
        for path, rows in self.parts:
            low, high = max(start - offset, 0), min(stop - offset, rows)
            offset += rows
            if low >= high:
                continue
            position = 0
            for batch in pq.ParquetFile(path).iter_batches(batch_size=batch_size, columns=list(columns)):
                a, b = max(low - position, 0), min(high - position, batch.num_rows)
                position += batch.num_rows
                if a < b:
                    pending.append(_numpy(batch.slice(a, b - a)))
                    pending_rows += b - a
                while pending_rows >= batch_size:
                    merged = _concatenate(pending)
                    yield {name: values[:batch_size] for name, values in merged.items()}
                    pending = [{name: values[batch_size:] for name, values in merged.items()}]
                    pending_rows -= batch_size
                if position >= high:
                    break
        if pending_rows:
            yield _concatenate(pending)


def _numpy(batch) -> dict:
    import pyarrow as pa

    return {
        name: numpy_of_lists(column) if pa.types.is_list(column.type) else column.to_numpy(zero_copy_only=False)
        for name, column in zip(batch.schema.names, batch.columns)
    }


def _concatenate(parts: list[dict]) -> dict:
    return parts[0] if len(parts) == 1 else {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}
