
set -uo pipefail  # not -e: the launcher's exit status decides what happens next

# --- what runs -------------------------------------------------------------------------------------
PYTHON={{python}}
JOB=({{job_cmd}})
JOB_ARGS=({{job_args}})
{{items_block}}{{out_block}}RANKS_PER_NODE={{ranks_per_node}}
# compute threads per rank: the runtime sizes Numba/OpenMP/BLAS pools from it before they load
export MPIAPP_THREADS={{threads}}
export PYTHONUNBUFFERED=1  # rank output reaches the log as it is printed

# --- network profile: {{profile}} (launch/profiles/{{profile}}.env) ---------------------------------
{{profile_text}}

# --- resume ----------------------------------------------------------------------------------------
restarts=${SLURM_RESTART_COUNT:-0}  # > 0 after a requeue
{{resume_block}}

# --- launch ----------------------------------------------------------------------------------------
{{launcher_block}}

child=0
# shellcheck disable=SC2317  # forward() only runs from the traps below: not unreachable
forward() {  # a signal to this shell (scancel -b, --signal=B:...) is passed on to the launcher as USR1
    echo "mpiapp: got SIG$1; passing it to the launcher (pid $child) as SIGUSR1" >&2
    if [ "$child" -gt 0 ]; then kill -s USR1 "$child" 2>/dev/null; fi
}
trap 'forward USR1' USR1
# TERM is passed on as USR1: both mean "commit and stop" to the ranks, but Open MPI's mpirun holds
# a SIGTERM back for odls_base_sigkill_timeout seconds, while it forwards SIGUSR1 at once.
trap 'forward TERM' TERM
launch &
child=$!
while :; do  # wait returns early (status > 128) when a trapped signal arrives: wait again
    wait "$child"
    rc=$?
    kill -0 "$child" 2>/dev/null || break
done

# --- what next -------------------------------------------------------------------------------------
{{after_block}}
