#!/bin/bash
# launch/mpirun.sh: Open MPI's mpirun with ranks and threads mapped to cores, for a workstation or
# inside a Slurm allocation (salloc / sbatch).
#
#   launch/mpirun.sh -n 2 python -m mpiapp.score            # 2 ranks, cores/2 threads each
#   launch/mpirun.sh -n 64 --report-bindings python -m mpiapp.score --config high_perf
#   launch/mpirun.sh -t 8 python -m mpiapp.score            # cores/8 ranks per node, 8 threads each
#   launch/mpirun.sh --dry-run -n 4 -t 2 python -m mpiapp info
#
# Options (before the program):
#   -n RANKS            total ranks (default: nodes x cores / threads)
#   -t THREADS          compute threads per rank (default: cores / ranks per node)
#   -N NODES            nodes (default: $SLURM_JOB_NUM_NODES, else 1)
#   -c CORES            cores per node (default: the physical cores this shell may run on)
#   --profile NAME      network profile, launch/profiles/NAME.env (default: single-node on one node;
#                       on several nodes none unless named: ethernet or ib-ucx)
#   --bind core|none    core (default): each rank bound to its own THREADS cores
#                       (--map-by ppr:R:node:pe=T --bind-to core); none: no binding
#   --oversubscribe     allow ranks x threads > cores (tests on a small machine); implies --bind none
#   --report-bindings   print each rank's binding ([B/.] = bound to the first of two cores)
#   --dry-run           print the mpirun command instead of running it
#
# Exports MPIAPP_THREADS (the runtime's thread plan reads it) and OMPI_MCA_odls_base_sigkill_timeout
# (3 s unless set: how long mpirun lets the other ranks finish after the first exits 75 — they leave
# the last commit together, so they need far less — and mpirun returns about 1-2x this long after
# that). SIGUSR1, SIGTERM or SIGINT to this process reach every rank as SIGUSR1 (commit, exit 75).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
die() { echo "mpirun.sh: $*" >&2; exit 2; }
usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//'; }
int() { [[ "$2" =~ ^[1-9][0-9]*$ ]] || die "$1 $2: expected a positive integer"; }

ranks="" threads="" nodes="${SLURM_JOB_NUM_NODES:-1}" cores="" profile="" bind=core over=0 report=0 dry=0
while [ $# -gt 0 ]; do
    case "$1" in
        -n | --ranks) [ $# -ge 2 ] || die "$1 needs a value"; int "$1" "$2"; ranks=$2; shift 2 ;;
        -t | --threads) [ $# -ge 2 ] || die "$1 needs a value"; int "$1" "$2"; threads=$2; shift 2 ;;
        -N | --nodes) [ $# -ge 2 ] || die "$1 needs a value"; int "$1" "$2"; nodes=$2; shift 2 ;;
        -c | --cores) [ $# -ge 2 ] || die "$1 needs a value"; int "$1" "$2"; cores=$2; shift 2 ;;
        --profile) [ $# -ge 2 ] || die "$1 needs a value"; profile=$2; shift 2 ;;
        --bind) [ $# -ge 2 ] || die "$1 needs a value"; bind=$2; shift 2 ;;
        --oversubscribe) over=1; shift ;;
        --report-bindings) report=1; shift ;;
        --dry-run) dry=1; shift ;;
        -h | --help) usage; exit 0 ;;
        --) shift; break ;;
        -*) die "unknown option $1 (see --help)" ;;
        *) break ;;
    esac
done
[ $# -gt 0 ] || die "no program to run (see --help)"
case "$bind" in core | none) ;; *) die "--bind $bind: expected core or none" ;; esac

MPIRUN=${MPIRUN:-mpirun}
command -v "$MPIRUN" >/dev/null || die "$MPIRUN not found on PATH"
if ! "$MPIRUN" --version 2>&1 | grep -q "Open MPI"; then
    die "$MPIRUN is not Open MPI: this wrapper speaks Open MPI's options (MPICH: mpiexec -n R -bind-to core:T)"
fi

# --- layout: cores per node, ranks per node, threads per rank ------------------------------------
if [ -z "$cores" ]; then
    cpus=$(nproc)  # CPUs in this shell's affinity (the allocation, inside Slurm)
    tpc=$(lscpu 2>/dev/null | awk -F: '/^Thread\(s\) per core/ {gsub(/ /, "", $2); print $2}')
    cores=$((cpus / ${tpc:-1}))
    [ "$cores" -ge 1 ] || cores=1
fi
if [ -z "$ranks" ]; then
    ppn=$((cores / ${threads:-1}))
    [ "$ppn" -ge 1 ] || ppn=1
    ranks=$((ppn * nodes))
fi
[ $((ranks % nodes)) -eq 0 ] || die "-n $ranks ranks do not divide evenly over $nodes nodes"
ppn=$((ranks / nodes))
if [ -z "$threads" ]; then
    threads=$((cores / ppn))
    [ "$threads" -ge 1 ] || threads=1
fi
need=$((ppn * threads))
if [ "$need" -gt "$cores" ]; then
    if [ "$over" = 1 ]; then
        bind=none
        echo "mpirun.sh: oversubscribed: $ppn ranks x $threads threads = $need CPUs on $cores cores" >&2
    else
        die "impossible layout: $ppn ranks per node x $threads threads per rank = $need CPUs, but a node has $cores cores (-c); lower -n or -t (or --oversubscribe to test)"
    fi
fi

# --- environment: thread plan, clean stop, network profile ----------------------------------------
export MPIAPP_THREADS=$threads
export OMPI_MCA_odls_base_sigkill_timeout="${OMPI_MCA_odls_base_sigkill_timeout:-3}"
[ -n "$profile" ] || { [ "$nodes" = 1 ] && profile=single-node; } || true
forward=(-x MPIAPP_THREADS)
[ -z "${PYTHONUNBUFFERED:-}" ] || forward+=(-x PYTHONUNBUFFERED)
if [ -n "$profile" ]; then
    pfile="$here/profiles/$profile.env"
    if [ ! -f "$pfile" ]; then
        have=$(for f in "$here"/profiles/*.env; do basename "$f" .env; done | tr '\n' ' ')
        die "--profile $profile: no $pfile (have: $have)"
    fi
    # shellcheck source=/dev/null  # the profile is chosen at run time
    . "$pfile"
    # mpirun passes OMPI_* on by itself; UCX_*, NCCL_* and the rest must be named to reach other nodes
    while read -r var; do
        forward+=(-x "$var")
    done < <(sed -n 's/^[[:space:]]*export \([A-Za-z_][A-Za-z0-9_]*\)=.*/\1/p' "$pfile" | grep -v '^OMPI_' | sort -u)
fi

# --- the command ---------------------------------------------------------------------------------
if [ "$bind" = core ]; then
    map=(--map-by "ppr:$ppn:node:pe=$threads" --bind-to core)
else
    map=(--map-by "ppr:$ppn:node" --bind-to none)
fi
cmd=("$MPIRUN" -n "$ranks" "${map[@]}")
[ "$over" = 0 ] || cmd+=(--oversubscribe)
[ "$report" = 0 ] || cmd+=(--report-bindings)
[ "$(id -u)" != 0 ] || cmd+=(--allow-run-as-root)
cmd+=("${forward[@]}" "$@")

echo "mpirun.sh: $ranks ranks ($ppn per node x $nodes node(s)) x $threads threads, bind $bind, cores per node $cores, profile ${profile:-none}" >&2
if [ "$dry" = 1 ]; then
    printf '%q ' "${cmd[@]}"
    echo
    exit 0
fi
# mpirun forwards SIGUSR1 to every rank at once but holds a SIGTERM back for
# odls_base_sigkill_timeout seconds: a TERM (or INT) to this wrapper reaches the ranks as USR1, which
# they treat the same way (commit, exit 75).
"${cmd[@]}" &
child=$!
# shellcheck disable=SC2317  # stop() only runs from the traps below: not unreachable
stop() { kill -s USR1 "$child" 2>/dev/null || true; }
trap stop TERM INT
trap 'kill -s USR1 "$child" 2>/dev/null || true' USR1
while :; do  # wait returns early (status > 128) when a trapped signal arrives: wait again
    rc=0
    wait "$child" || rc=$?
    kill -0 "$child" 2>/dev/null || break
done
exit "$rc"
