MAX_REQUEUES={{max_requeues}}
case "$rc" in
    0) echo {{done_msg}} >&2 ;;
    75)  # stopped by a signal (preemption warning, scancel -s USR1) with its work committed
        if [ "$restarts" -lt "$MAX_REQUEUES" ]; then
            echo "mpiapp: stopped by a signal; requeueing job $SLURM_JOB_ID (restart $((restarts + 1)))" >&2
            scontrol requeue "$SLURM_JOB_ID" || echo "mpiapp: requeue refused: resubmit to continue" >&2
        else
            echo "mpiapp: stopped after $restarts restarts (MAX_REQUEUES): resubmit to continue" >&2
        fi ;;
    *) echo "mpiapp: failed with exit status $rc (tracebacks above); resubmitting {{again}}" >&2 ;;
esac
exit "$rc"
