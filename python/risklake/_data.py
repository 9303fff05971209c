"""Turning what a notebook holds (pyarrow, pandas, polars, numpy, any Arrow-exporting
object) into Arrow without copies where Arrow allows."""

from typing import Any, List, Optional, Sequence

import numpy as np
import pyarrow as pa


def to_table(data: Any, *, names: Optional[Sequence[str]] = None, what: str = "data") -> pa.Table:
    """Any frame as a ``pyarrow.Table``.

    pyarrow tables, record batches and readers pass through as they are (no copy); polars
    and any object with ``__arrow_c_stream__`` go through the Arrow C stream interface
    (no copy); pandas through ``pyarrow.Table.from_pandas`` (numeric columns without
    nulls are not copied); a 2-D numpy array becomes columns ``x0, x1, ...`` (or
    ``names``).
    """
    if isinstance(data, pa.Table):
        return data
    if isinstance(data, pa.RecordBatch):
        return pa.Table.from_batches([data])
    if isinstance(data, pa.RecordBatchReader):
        return data.read_all()
    module = type(data).__module__ or ""
    if module.startswith("pandas"):
        if hasattr(data, "to_frame") and not hasattr(data, "columns"):
            data = data.to_frame()
        frame = data
        if not all(isinstance(c, str) for c in frame.columns):
            frame = frame.rename(columns=str)
        return pa.Table.from_pandas(frame, preserve_index=False)
    if module.startswith("polars"):
        return data.to_arrow()
    if hasattr(data, "__arrow_c_stream__"):
        return pa.table(data)
    if isinstance(data, dict):
        return pa.table(data)
    array = np.asarray(data)
    if array.ndim == 1:
        array = array.reshape(-1, 1)
    if array.ndim != 2:
        raise ValueError(f"{what} must be 2-D (rows x features); got an array of shape {array.shape}")
    if names is None:
        names = [f"x{i}" for i in range(array.shape[1])]
    if len(names) != array.shape[1]:
        raise ValueError(f"{what} has {array.shape[1]} columns but {len(names)} names were given")
    return pa.table({str(n): array[:, i] for i, n in enumerate(names)})


# Rows per batch handed to the learners: slices of the table's own chunks (no copy). A
# frame from pandas is one chunk of every row; in slices of this size the binning passes
# stay in cache (measured: 1M x 88 GBDT fit, 29.7 CPU s in one batch, 28.1 s in these).
BATCH_ROWS = 65536


def batches(table: pa.Table) -> List[pa.RecordBatch]:
    """The table's record batches, as zero-copy slices of at most ``BATCH_ROWS`` rows;
    one empty batch for an empty table."""
    out = table.to_batches(max_chunksize=BATCH_ROWS)
    if not out:
        out = [pa.RecordBatch.from_arrays([pa.array([], type=f.type) for f in table.schema], schema=table.schema)]
    return out


def to_reader(data: Any) -> pa.RecordBatchReader:
    """A stream of record batches over any frame (readers and streams pass through)."""
    if isinstance(data, pa.RecordBatchReader):
        return data
    return to_table(data).to_reader()


def numpy_of(array: Any) -> np.ndarray:
    """A float64 Arrow array from the extension as numpy, without a copy."""
    return np.asarray(pa.array(array) if not isinstance(array, pa.Array) else array)
