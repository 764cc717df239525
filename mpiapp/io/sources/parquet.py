"""parquet:DIR — one Parquet file per symbol (*.parquet, *.pq); the file stem is the symbol.

The bar count and column names come from the file's footer (index() reads no data).
"""

from __future__ import annotations

from ..validate import RULE_READABLE, DataError, frame_to_series
from .base import _checked_count, _FolderSource


class ParquetSource(_FolderSource):
    kind = "parquet"
    suffixes = (".parquet", ".pq")
    reads_timezone = True

    def _count(self, name):
        path = self._regular(name)
        try:
            import pyarrow.parquet as pq

            meta = pq.ParquetFile(path)
            schema = meta.schema_arrow
            n = meta.metadata.num_rows
        except Exception as exc:  # pyarrow raises many kinds
            raise DataError(
                f"not a readable Parquet file: {exc}",
                file=path,
                symbol=name,
                rule=RULE_READABLE,
                where="file",
            ) from None
        import pyarrow as pa

        cols = []
        for field in schema:
            if field.name.startswith("__index_level_") and pa.types.is_timestamp(field.type):
                cols.append("Date")
            else:
                cols.append(field.name)
        return _checked_count(cols, n, path, name)

    def _read(self, name, min_bars):
        import pandas as pd

        path = self._regular(name)
        try:
            df = pd.read_parquet(path)
        except Exception as exc:
            raise DataError(
                f"not a readable Parquet file: {exc}",
                file=path,
                symbol=name,
                rule=RULE_READABLE,
                where="file",
            ) from None
        return frame_to_series(
            df,
            symbol=name,
            origin=path,
            min_bars=min_bars,
            date_format=self.date_format,
            drop_empty_rows=self.drop_empty_rows,
            timezone=self.timezone,
        )
