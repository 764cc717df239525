"""`runtime.*`: MPI initialisation, threads per rank, logging — shared by every job."""

from .keys import Key

# fmt: off
KEYS = (
    Key("runtime.mpi_thread_level", str, "funneled",
        "MPI thread level requested at init (mpi4py.rc.thread_level); env MPIAPP_MPI_THREAD_LEVEL",
        choices=("single", "funneled", "serialized", "multiple")),
    Key("runtime.work_counter", str, "auto",
        "the job-wide counter behind dynamic claiming and the progress bar: auto = MPI-3 RMA atomics when "
        "a test at start shows they work across the job's hosts without waiting for rank 0, else "
        "messages answered by rank 0 while its own unit runs in a worker thread; rma / messages force "
        "one; env MPIAPP_WORK_COUNTER", choices=("auto", "rma", "messages")),
    Key("runtime.threads_per_rank", int, 0,
        "compute threads per rank; 0 = node CPUs divided by ranks on the node (affinity/cgroup aware); "
        "env MPIAPP_THREADS", lo=0, hi=4096),
    Key("runtime.numba_threading_layer", str, "omp",
        "Numba threading layer (omp, workqueue, default)", choices=("omp", "workqueue", "tbb", "default")),
    Key("runtime.omp_wait_policy", str, "auto",
        "how idle OpenMP threads wait (OMP_WAIT_POLICY; one in the environment wins): auto = passive for "
        "the scan (Numba kernels between serial phases) and on an oversubscribed node, else the OpenMP "
        "library's default (brief spinning: LightGBM's many short parallel regions run 2.5x faster)",
        choices=("auto", "passive", "active")),
    Key("runtime.log_level", str, "info", "log level; env MPIAPP_LOG_LEVEL",
        choices=("debug", "info", "warning", "error")),
    Key("runtime.log_all_ranks", bool, False,
        "log from every rank (rank prefix on each line), not only rank 0; env MPIAPP_LOG_ALL_RANKS"),
)
# fmt: on
