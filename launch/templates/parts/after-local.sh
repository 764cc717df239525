case "$rc" in
    0) echo {{done_msg}} >&2 ;;
    75) echo "mpiapp: stopped by a signal with its work committed; running this script again {{again}}" >&2 ;;
    *) echo "mpiapp: failed with exit status $rc; running this script again {{again}}" >&2 ;;
esac
exit "$rc"
