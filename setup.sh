#!/usr/bin/env bash
# One-time, idempotent set-up of mpiapp on a Debian/Ubuntu machine or a cluster login node.
#
#   ./setup.sh            system MPI + parallel HDF5, .venv, mpi4py, h5py built against MPI, the rest
#
# Where `mpicc` is already on PATH (module load openmpi hdf5 on a cluster) that MPI and HDF5 are used
# and apt is not touched. A second run checks and returns in seconds: nothing heavy is rebuilt.
# Environment knobs (all optional):
#   MPIAPP_VENV      venv folder (default .venv)
#   PYTHON           interpreter to build the venv from (default python3)
#   HDF5_DIR         HDF5 prefix for the h5py build when not using pkg-config
#   MPIAPP_GPU       1 / 0 to force the GPU extras on or off (default: 1 when nvidia-smi sees a GPU);
#                    GPU extras: CuPy, xgboost and JAX with CUDA; without: xgboost-cpu and JAX's CPU build
#   MPIAPP_TORCH     torch requirement (default torch==2.13.0; a CPU build on the project's machines)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

VENV=${MPIAPP_VENV:-.venv}
PYTHON=${PYTHON:-python3}
say() { printf '[setup] %s\n' "$*"; }
loud() { printf '\n[setup] !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n[setup] %s\n[setup] !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n\n' "$*" >&2; }
SUDO=""
if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null; then SUDO="sudo"; fi

# --- 1. MPI and parallel HDF5 -------------------------------------------------------------------
HDF5_PKG=""
if command -v mpicc >/dev/null && ! dpkg -s libopenmpi-dev >/dev/null 2>&1; then
    say "using the MPI already on PATH: $(command -v mpicc) (no apt)"
elif command -v apt-get >/dev/null; then
    pkgs="openmpi-bin libopenmpi-dev libhdf5-openmpi-dev pkg-config"
    missing=""
    for p in $pkgs; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
    if [ -n "$missing" ]; then
        say "installing system packages:$missing"
        $SUDO apt-get update -qq
        # shellcheck disable=SC2086  # $missing is a list of package names
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
    else
        say "system packages present: $pkgs"
    fi
    HDF5_PKG=hdf5-openmpi
else
    loud "no mpicc on PATH and no apt-get: load an MPI module (module load openmpi) and rerun"
    exit 1
fi

# --- 2. virtual environment ---------------------------------------------------------------------
if [ ! -x "$VENV/bin/python" ]; then
    say "creating $VENV"
    "$PYTHON" -m venv "$VENV"
fi
PY="$VENV/bin/python"
pipi() {  # pip install, minus the machine's harmless "Location ... is ignored" lines; pip's status
    local log rc=0
    log=$(mktemp)
    "$PY" -m pip install -q "$@" >"$log" 2>&1 || rc=$?
    grep -v "is ignored" "$log" || true
    rm -f "$log"
    return "$rc"
}
have() { "$PY" -c "$1" >/dev/null 2>&1; }

# --- 3. build prerequisites and mpi4py (binary wheel; links the MPI found at run time) ------------
if ! have "import mpi4py, numpy, Cython, pkgconfig, setuptools, packaging"; then
    say "installing numpy, mpi4py and h5py's build prerequisites"
    pipi --upgrade pip
    pipi numpy mpi4py "Cython>=3,<4" pkgconfig "setuptools>=77.0.1" packaging wheel
fi

# --- 4. h5py against parallel HDF5 (skipped when it already has MPI) -------------------------------
if have "import h5py, sys; sys.exit(0 if h5py.get_config().mpi else 1)"; then
    say "h5py with MPI present: $("$PY" -c 'import h5py; print(h5py.__version__)')"
else
    say "building h5py against parallel HDF5 (about 2 minutes)"
    h5env=(CC=mpicc CFLAGS="-O1 -g0" HDF5_MPI=ON)
    [ -n "$HDF5_PKG" ] && [ -z "${HDF5_DIR:-}" ] && h5env+=(HDF5_PKGCONFIG_NAME="$HDF5_PKG")
    # --no-build-isolation: otherwise the backend compiles mpi4py from source (20+ GB of RAM);
    # --no-cache-dir: the wheel cache ignores HDF5_MPI and may hand back a serial build.
    if ! env "${h5env[@]}" "$PY" -m pip install -q --no-cache-dir --no-binary=h5py \
            --no-build-isolation --force-reinstall --no-deps "h5py==3.16.0" 2>&1 | grep -v "is ignored"; then
        :
    fi
    if have "import h5py, sys; sys.exit(0 if h5py.get_config().mpi else 1)"; then
        say "h5py built with MPI"
    else
        loud "h5py could not be built against parallel HDF5 (see the compiler output above).
[setup] Installing serial h5py: results files will be gathered to rank 0 and written by it alone
[setup] (recorded as hdf5_mode=gather in every file). Fix: install parallel HDF5 (libhdf5-openmpi-dev
[setup] or module load hdf5/parallel, with HDF5_DIR set) and rerun ./setup.sh."
        pipi "h5py==3.16.0"
    fi
fi

# --- 5. torch and xgboost without CUDA downloads on GPU-less machines ----------------------------
GPU=${MPIAPP_GPU:-}
if [ -z "$GPU" ]; then
    if command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1; then GPU=1; else GPU=0; fi
fi
if ! have "import torch"; then
    say "installing ${MPIAPP_TORCH:-torch==2.13.0}"
    pipi "${MPIAPP_TORCH:-torch==2.13.0}"
fi
if [ "$GPU" = 1 ]; then EXTRAS="dev,gpu"; else EXTRAS="dev,cpu,jax"; fi

# --- 6. the package itself and the rest of its dependencies --------------------------------------
stamp="$VENV/.mpiapp-setup"
want="$(cat pyproject.toml setup.sh | sha256sum | cut -c1-16) $EXTRAS"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && have "import mpiapp, numba, optuna, lightgbm, xgboost, jax"; then
    say "mpiapp and its dependencies are up to date ($EXTRAS)"
else
    say "installing mpiapp (editable) with extras [$EXTRAS]"
    pipi -e ".[$EXTRAS]"
    echo "$want" > "$stamp"
fi

# --- 6b. the package's modules byte-compiled: every rank of every run imports them, and where
# PYTHONDONTWRITEBYTECODE is set (or the checkout is read-only) Python would compile them from source
# each time (~0.25 s CPU per process). Stale files are ignored by Python, so this is always safe.
"$PY" -m compileall -q mpiapp >/dev/null || say "compileall failed (harmless: imports compile in memory)"

# --- 7. checks ----------------------------------------------------------------------------------
"$PY" - <<'PYCHECK'
import h5py, mpi4py, numpy, sys
mpi = h5py.get_config().mpi
print(f"[setup] ok: python {sys.version.split()[0]}, numpy {numpy.__version__}, mpi4py {mpi4py.__version__}, "
      f"h5py {h5py.__version__} (MPI={mpi})")
PYCHECK
