"""`data.*`: which price series a job reads and what happens to bad ones."""

from .keys import Items, Key

# fmt: off
KEYS = (
    Key("data.source", str, "builtin:all",
        "builtin:NAME|all, csv:DIR, parquet:DIR, hdf5:FILE or synthetic:N (ddp: a daily universe where one "
        "pooled model makes sense, the 20 S&P 500 stocks)", by_job=(("ddp", "builtin:sp500stocks"),)),
    Key("data.skip_bad_symbols", bool, False,
        "skip (and record) symbols that fail validation instead of stopping the job"),
    Key("data.seed", int, 0, "seed of the synthetic universe", lo=0),
    Key("data.synthetic_bars", int, 2000, "bars per synthetic symbol", lo=10, hi=10_000_000),
    Key("data.synthetic_plant_rate", float, 1.0,
        "planted impulses per 1,000 synthetic bars", lo=0.0, hi=100.0),
    Key("data.synthetic_noise", float, 0.1,
        "noise of planted impulses, relative to the wave length", lo=0.0, hi=1.0),
    Key("data.date_format", str, "auto",
        "dates in text files: auto (ISO 8601 and unambiguous forms; D/M/Y or M/D/Y decided by a "
        "day above 12, refused when no row decides), dayfirst, monthfirst, or a strftime format "
        "such as %d.%m.%Y"),
    Key("data.drop_empty_rows", bool, False,
        "drop input rows with no price at all (Yahoo 'null' rows), counted per symbol; "
        "false: such a row is an error"),
    Key("data.columns", list, [],
        "names of the columns of CSV files that have no header line, in file order (a MetaTrader 4 "
        "export: [Date, Time, Open, High, Low, Close, Volume]); empty: the first line is the header",
        items=Items(str, min_len=0)),
    Key("data.timezone", str, "UTC",
        "time zone of CSV and Parquet times without an offset: UTC, an IANA name (Europe/Athens, "
        "America/New_York; daylight saving applied) or a fixed offset such as +02:00; converted to UTC"),
)
# fmt: on
