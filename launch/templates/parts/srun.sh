# Slurm's warning signal (--signal=USR1@T, no B:) goes to every task of the srun step: each rank
# commits and exits 75, and srun returns 75. (No --kill-on-bad-exit: ranks that stop together must
# not be killed while the last one closes the file.) Inside this allocation mpirun works too:
#   mpirun --map-by "ppr:$RANKS_PER_NODE:node:pe=$MPIAPP_THREADS" --bind-to core -x MPIAPP_THREADS \
#       "$PYTHON" "${JOB[@]}" "${JOB_ARGS[@]}"
# but mpirun runs in the batch step, which a plain --signal does not reach: use --signal=B:USR1@T
# (the trap below passes it to mpirun, which forwards SIGUSR1 to every rank), or render this script
# with `python -m mpiapp.launch --launcher mpirun`.
launch() {
    exec srun --mpi={{srun_mpi}} --ntasks-per-node="$RANKS_PER_NODE" --cpus-per-task="$MPIAPP_THREADS" \
        --cpu-bind={{cpu_bind}}{{gpu}} "$PYTHON" "${JOB[@]}" "${JOB_ARGS[@]}"
}
