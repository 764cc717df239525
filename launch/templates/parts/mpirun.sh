# After the first rank exits 75, mpirun gives the others this many seconds before SIGKILL (they leave
# the last commit together and need far less), and returns about 1-2x this long later (measured, 2
# ranks: 30 s -> 60 s, 10 s -> 20 s, 1 s -> 2.6 s). Stops reach mpirun as SIGUSR1 (see the trap), which
# it forwards at once; a SIGTERM it would hold back for this long.
export OMPI_MCA_odls_base_sigkill_timeout="${OMPI_MCA_odls_base_sigkill_timeout:-3}"
if [ "$(id -u)" = 0 ]; then  # Open MPI refuses root unless told
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
{{signal_note}}
launch() {
    exec mpirun --map-by "ppr:$RANKS_PER_NODE:node:pe=$MPIAPP_THREADS" --bind-to core{{report}} \
        {{forward}} \
        "$PYTHON" "${JOB[@]}" "${JOB_ARGS[@]}"
}
