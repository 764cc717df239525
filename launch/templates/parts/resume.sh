if [ -e "$OUT.partial" ]; then
    echo "mpiapp: resuming $OUT.partial (restart $restarts)" >&2
    kept=()
    for arg in "${JOB_ARGS[@]}"; do  # --force and --resume exclude each other
        if [ "$arg" != --force ]; then kept+=("$arg"); fi
    done
    JOB_ARGS=("${kept[@]}" --resume)
elif [ "$restarts" -gt 0 ] && [ -e "$OUT" ]; then
    echo "mpiapp: $OUT is complete (restart $restarts): nothing left to do" >&2
    exit 0
fi
