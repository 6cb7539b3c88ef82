"""Large CSV request bodies read by Arrow: C++ parsing that releases the GIL.

Used by :meth:`forgeml.serving._codecs.Signature.parse` for bodies of ``ARROW_CSV_BYTES`` and
more. The Python reader stays the reference: whatever Arrow would read differently makes this
return None, and the Python reader parses the body again and names the record that is wrong.
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from forgeml.serving._codecs import Signature


def read_rows(sig: Signature, body: bytes) -> list[list[Any]] | None:
    """The rows of a CSV ``body`` for ``sig``, through Arrow's multi-threaded C++ reader.

    Returns None for anything Arrow does not read exactly as the Python reader would (a
    value that is not a number, a short line, padding, bad UTF-8): the Python reader then
    parses the body again and names the record and column that is wrong."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pv

    types = {n: (pa.float64() if num else pa.string()) for n, num in zip(sig.names, sig.numeric, strict=True)}
    try:
        table = pv.read_csv(
            pa.py_buffer(body),
            read_options=pv.ReadOptions(column_names=sig.names, block_size=1 << 22),
            parse_options=pv.ParseOptions(newlines_in_values=b'"' in body),
            convert_options=pv.ConvertOptions(column_types=types, null_values=[""], strings_can_be_null=True, quoted_strings_can_be_null=True),
        )  # fmt: skip
    except (pa.ArrowInvalid, pa.ArrowTypeError, ValueError):
        return None
    for name, numeric in zip(sig.names, sig.numeric, strict=True):
        column = table.column(name)
        if numeric and pc.any(pc.is_inf(column)).as_py():
            return None  # the Python reader names the record
        if not numeric and pc.any(pc.not_equal(pc.utf8_length(pc.utf8_trim_whitespace(column)), pc.utf8_length(column))).as_py():
            return None  # padded text: the Python reader strips it
    rows: list[list[Any]] = []
    for batch in table.to_batches(max_chunksize=8192):  # short GIL-holding steps
        columns = [
            batch.column(j).fill_null(math.nan).to_numpy(zero_copy_only=False).tolist() if numeric else batch.column(j).to_pylist()
            for j, numeric in enumerate(sig.numeric)
        ]  # fmt: skip
        rows.extend(list(row) for row in zip(*columns, strict=True))
        time.sleep(0)  # let the event loop's thread run
    return rows


__all__ = ["read_rows"]
