"""`output.*`: where a job's results file goes and how it is written."""

from .keys import Key

# fmt: off
KEYS = (
    Key("output.path", str, None,
        "results file; null = results/<job>.h5 (written as PATH.partial, renamed when complete)",
        nullable=True),
    Key("output.hdf5_mpi", str, "auto",
        "auto: collective writes (driver=mpio) when h5py has MPI; off: gather to rank 0 (recorded in the file)",
        choices=("auto", "off")),
    Key("output.summary_top", int, 10, "rows listed in the end-of-run summary", lo=0, hi=10_000),
)
# fmt: on
