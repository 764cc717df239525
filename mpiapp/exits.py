"""The exit codes of every mpiapp program, in one place.

Why a module of its own that imports nothing: the codes are said by every layer — the config
loader (a bad key), io's converter (bad input), the runtime (an abort, a stop signal), the jobs —
and a script or a scheduler reads them, so each is declared once here and every `main` returns
these names. The meanings are those each job's `--help` lists.
"""

#: the job completed; its results file is whole
OK = 0
#: a rank raised and the job was aborted (a unit job's .partial file resumes with --resume); also a
#: ddp training that stopped at a non-finite loss
FAILED = 1
#: bad input or configuration, said in one line before any compute (nothing written, nothing of the
#: user's overwritten)
USAGE = 2
#: train: the results file is complete, but some units failed and were recorded
#: (train.on_error=record; the failures table says which and why)
UNITS_FAILED = 3
#: stopped by SIGTERM/SIGUSR1 at a commit: resumable with --resume (EX_TEMPFAIL of sysexits.h)
RESUMABLE = 75
