"""What a training process reads: its own shard of a feature directory, streamed in batches of numpy
arrays (no collect to the driver, no Python loop over events). Shared by the training engines.

Two layouts are read. The workflow's own feature tables hold each event's real particle rows only
(``GRU_input`` ragged, with ``padding_row`` and ``padding_at``): the 801-row sequences are built per
batch. Tables in the original study's published schema (``HLF_input``, ``GRU_input`` as 801 x 19 values,
flat or nested, ``encoded_label``; e.g. ``trainUndersampled_InclusiveClassifier.parquet``) are read as
they are; their events get an identity from their file and row.

Where padding rows are zero (global scaling), masking makes them invisible to the models: a batch is
then built only as long as its longest event, and training batches are made of events of similar
length (``length_buckets``): within windows of ``WINDOW_BATCHES`` batches, events are sorted by length
(ties broken at random) and cut into batches, whose order is shuffled. The draws depend only on the
seed, the epoch and the window, so every data-parallel process runs batches of the same length rank at
the same step and none waits long for the others.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from ..core.arrays import numpy_of_lists, numpy_of_ragged, sequences_of
from ..core.errors import InputError
from ..core.schema import HLF_NAMES, ID_COLUMNS, LLF_NAMES, N_ROWS

RAGGED = ("padding_row", "padding_at", "n_particles")  # read with a ragged GRU_input
WIDTHS = {"HLF_input": len(HLF_NAMES), "encoded_label": 3}
WINDOW_BATCHES = 32


@dataclass
class Dataset:
    """The Parquet parts of a feature directory (or one Parquet file) and their row counts, in file order."""

    directory: str
    parts: list[tuple[str, int]]
    ragged: bool  # the workflow's layout (else the original's published schema)
    zero_padding: bool  # padding rows are zero: batches may be cut to their longest event

    @classmethod
    def open(cls, directory: str) -> Dataset:
        import pyarrow.parquet as pq

        if os.path.isfile(directory):  # one Parquet file (e.g. the original's published tables, downloaded)
            paths = [directory]
        else:
            paths = sorted(glob.glob(os.path.join(directory, "part-*.parquet"))) or sorted(glob.glob(os.path.join(directory, "*.parquet")))
        parts = [(path, pq.ParquetFile(path).metadata.num_rows) for path in paths]
        ragged = zero_padding = False
        if paths:
            names = pq.read_schema(paths[0]).names
            ragged = all(name in names for name in RAGGED)
            if ragged and parts[0][1]:
                first = pq.ParquetFile(paths[0]).read_row_group(0, columns=["padding_row"])
                zero_padding = not numpy_of_lists(first.column("padding_row")).any()
        return cls(directory, parts, ragged, zero_padding)

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

    def batches(
        self, start: int, stop: int, batch_size: int, columns, compact: bool = False, buckets: tuple[int, int] | None = None
    ) -> Iterator[dict]:
        """Rows [start, stop) in batches of ``batch_size`` (the last one may be smaller), as numpy arrays:
        ``GRU_input`` as (n, steps, 19) sequences, other list columns as (n, width) arrays, the rest 1-d.
        ``compact``: with zero padding, sequences only as long as the batch's longest event (else 801
        steps). ``buckets`` = (seed, epoch): batches of events of similar length (zero padding only);
        also without a seed (``(None, 0)``): sorted by length within windows, in order (for evaluation)."""
        columns = list(columns)
        compact = compact and self.zero_padding  # masked padding rows need not be built
        read = [*columns, *(RAGGED if self.ragged and "GRU_input" in columns else ())]
        if buckets is not None and self.zero_padding and "n_particles" not in read:
            read.append("n_particles")
        tables = self._tables(start, stop, read)
        if buckets is None or not self.zero_padding:
            for table in _rebatched(tables, batch_size):
                yield self._numpy(table, columns, compact)
            return
        seed, epoch = buckets
        for window, table in enumerate(_rebatched(tables, batch_size * WINDOW_BATCHES)):
            table = table.combine_chunks()  # Arrow's take across many chunks is ~20x slower
            for rows in bucket_batches(table.column("n_particles").to_numpy(), batch_size, seed, epoch, window):
                yield self._numpy(table.take(rows), columns, compact)

    def _tables(self, start: int, stop: int, columns: list[str]) -> Iterator[pa.Table]:
        """Rows [start, stop) as Arrow tables of the file's record batches."""
        import pyarrow.parquet as pq

        offset = 0
        for path, rows in self.parts:
            low, high = max(start - offset, 0), min(stop - offset, rows)
            offset += rows
            if low >= high:
                continue
            file = pq.ParquetFile(path)
            present = set(file.schema_arrow.names)
            missing = [name for name in columns if name not in present and not _derived(name, present)]
            if missing:
                raise InputError(f"{path}: no column {', '.join(missing)}")
            position = 0
            for batch in file.iter_batches(batch_size=1 << 14, columns=[name for name in columns if name in present] + _sources(columns, present)):
                a, b = max(low - position, 0), min(high - position, batch.num_rows)
                if a < b:
                    table = pa.Table.from_batches([batch.slice(a, b - a)])
                    yield _with_derived(table, columns, os.path.basename(path), position + a)
                position += batch.num_rows
                if position >= high:
                    break

    def check(self, columns) -> None:
        """The first rows of every part have the columns and widths the models expect; one line naming
        the file and the column otherwise."""
        for path, rows in self.parts:
            if not rows:
                continue
            first = next(Dataset(self.directory, [(path, rows)], self.ragged, self.zero_padding)._tables(0, min(rows, 64), list(columns)))
            for name in columns:
                column = first.column(name)
                if name == "GRU_input" and self.ragged:
                    try:
                        numpy_of_ragged(column, len(LLF_NAMES))
                    except ValueError as exc:
                        raise InputError(f"{path}: column GRU_input: {exc}") from None
                    continue
                shape = numpy_of_lists(column).shape[1:] if pa.types.is_list(column.type) else ()
                expected = (
                    [(N_ROWS, len(LLF_NAMES)), (N_ROWS * len(LLF_NAMES),)] if name == "GRU_input" else [(WIDTHS.get(name),) if name in WIDTHS else ()]
                )
                if shape not in expected:
                    values = lambda shape: f"{' x '.join(map(str, shape))} values" if shape else "one value"
                    raise InputError(f"{path}: column {name} has {values(shape)} per event, expected {values(expected[0])}")

    def _numpy(self, table: pa.Table, columns: list[str], compact: bool) -> dict:
        out = {}
        for name in columns:
            column = table.column(name)
            if name == "GRU_input":
                out[name] = sequences_of(table, N_ROWS, len(LLF_NAMES), compact)
            elif pa.types.is_list(column.type):
                out[name] = numpy_of_lists(column).astype(np.float32, copy=False)
            else:
                out[name] = column.to_numpy(zero_copy_only=False)
        return out


def bucket_batches(lengths: np.ndarray, batch_size: int, seed: int | None, epoch: int, window: int) -> list[np.ndarray]:
    """Rows of one window cut into batches of events of similar length, in an order drawn from (seed,
    epoch, window) only; without a seed, shortest first."""
    if seed is None:
        order = np.argsort(lengths, kind="stable")
        return [order[i : i + batch_size] for i in range(0, order.size, batch_size)]
    rng = np.random.default_rng([seed, epoch, window])
    order = np.lexsort((rng.random(lengths.size), lengths))
    batches = [order[i : i + batch_size] for i in range(0, order.size, batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]


def _rebatched(tables: Iterator[pa.Table], size: int) -> Iterator[pa.Table]:
    """The rows of consecutive tables regrouped into tables of ``size`` rows (the last may be smaller)."""
    pending, pending_rows = [], 0
    for table in tables:
        pending.append(table)
        pending_rows += table.num_rows
        while pending_rows >= size:
            merged = pa.concat_tables(pending)
            yield merged.slice(0, size)
            pending, pending_rows = [merged.slice(size)], pending_rows - size
    if pending_rows:
        yield pa.concat_tables(pending)


def _derived(name: str, present: set) -> bool:
    """Columns a table in the original's schema lacks and that are made from what it has."""
    return name in ID_COLUMNS or (name == "label" and "encoded_label" in present)


def _sources(columns: list[str], present: set) -> list[str]:
    return ["encoded_label"] if "label" in columns and "label" not in present and "encoded_label" not in columns else []


def _with_derived(table: pa.Table, columns: list[str], file: str, first_row: int) -> pa.Table:
    """The columns a table in the original's schema lacks: its label from the one-hot ``encoded_label``,
    and an identity for each event (the file's name and the row in it) so its predictions can be traced."""
    rows = np.arange(first_row, first_row + table.num_rows, dtype=np.int64)
    made = {
        "source_file": lambda: pa.array([file] * table.num_rows, pa.string()),
        "entry": lambda: pa.array(rows),
        "event_number": lambda: pa.array(rows),
        "label": lambda: pa.array(numpy_of_lists(table.column("encoded_label")).argmax(axis=1).astype(np.int32)),
    }
    for name in columns:
        if name not in table.column_names:
            table = table.append_column(name, made[name]())
    return table
