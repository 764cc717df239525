"""The rules that keep the layers livable, checked on the source (imports and calls, via ast).

- work/ imports no engine; kernels/ imports nothing from runtime/, io/ or config;
- no raw MPI under engines/ or work/ (no mpi4py import, no communicator method calls);
- no job module imports another job; only runtime/comm.py imports mpi4py;
- no engine imports another engine's job module (what they share lives in the engine's domain
  modules); no module imports a private module of Optuna (`optuna.<...>._<name>`: public API only);
- no import circle among the modules of engines/hpo (the objective modules import contract.py, the
  registry imports them).
Each checker takes a package folder, so a test can show it failing on a planted violation.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PKG = ROOT / "mpiapp"

#: communicator / window methods that mean "this module talks MPI itself"
MPI_CALLS = {
    "Barrier",
    "Ibarrier",
    "bcast",
    "Bcast",
    "gather",
    "Gather",
    "allgather",
    "Allgather",
    "allreduce",
    "Allreduce",
    "reduce",
    "Reduce",
    "scatter",
    "Scatter",
    "send",
    "recv",
    "Send",
    "Recv",
    "isend",
    "irecv",
    "Isend",
    "Irecv",
    "Get_rank",
    "Get_size",
    "Split",
    "Split_type",
    "Dup",
    "Abort",
    "Fetch_and_op",
    "Allocate",
    "Allocate_shared",
    "Exscan",
    "Alltoall",
}


#: runtime modules whose functions wrap collectives (calling them is how engines and work/ communicate)
RUNTIME_HELPERS = {"sync", "profile"}


def imports(path: Path, pkg: Path) -> set[str]:
    """Absolute module names a file imports (relative imports resolved against `pkg`'s parent)."""
    tree = ast.parse(path.read_text())
    mod_parts = list(path.relative_to(pkg.parent).with_suffix("").parts)
    if mod_parts[-1] == "__init__":
        mod_parts = mod_parts[:-1]
        here = mod_parts
    else:
        here = mod_parts[:-1]
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[: len(here) - (node.level - 1)]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            out.add(name)
            out |= {f"{name}.{a.name}" for a in node.names}
    return out


def files(folder: Path):
    return sorted(folder.rglob("*.py"))


def violations_work_imports_engine(pkg: Path) -> list[str]:
    name = pkg.name
    return [
        f"{f}: {m}" for f in files(pkg / "work") for m in imports(f, pkg) if m.startswith(f"{name}.engines")
    ]


def violations_kernels(pkg: Path) -> list[str]:
    name = pkg.name
    banned = tuple(f"{name}.{x}" for x in ("runtime", "io", "config", "work", "engines"))
    return [f"{f}: {m}" for f in files(pkg / "kernels") for m in imports(f, pkg) if m.startswith(banned)]


def violations_raw_mpi(pkg: Path) -> list[str]:
    bad = []
    for folder in ("engines", "work"):
        for f in files(pkg / folder):
            for m in imports(f, pkg):
                if m.startswith("mpi4py"):
                    bad.append(f"{f}: imports {m}")
            for node in ast.walk(ast.parse(f.read_text())):
                if (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Attribute)
                    and node.func.attr in MPI_CALLS
                ):
                    via = node.func.value
                    if isinstance(via, ast.Name) and via.id in RUNTIME_HELPERS:
                        continue  # runtime's own collective helpers (runtime.sync, runtime.profile), not raw MPI
                    bad.append(f"{f}:{node.lineno}: calls .{node.func.attr}()")
    return bad


def violations_mpi4py_outside_comm(pkg: Path) -> list[str]:
    allowed = pkg / "runtime" / "comm.py"
    return [
        f"{f}: {m}" for f in files(pkg) if f != allowed for m in imports(f, pkg) if m.startswith("mpi4py")
    ]


def violations_job_imports_job(pkg: Path, jobs) -> list[str]:
    name = pkg.name
    bad = []
    for job in jobs:
        f = pkg / f"{job}.py"
        if not f.exists():
            continue
        others = {f"{name}.{j}" for j in jobs if j != job}
        bad += [
            f"{f}: {m}" for m in imports(f, pkg) if m in others or any(m.startswith(o + ".") for o in others)
        ]
    return bad


def violations_engine_imports_other_job(pkg: Path) -> list[str]:
    """Imports of engines/<other>/job.py from a module under engines/<own>/ (at any depth, also inside
    functions): what an engine lends another lives in its domain modules."""
    name = pkg.name
    bad = []
    for f in files(pkg / "engines"):
        parts = f.relative_to(pkg / "engines").parts
        if len(parts) < 2:
            continue
        own = parts[0]
        for m in imports(f, pkg):
            p = m.split(".")
            if len(p) >= 4 and p[:2] == [name, "engines"] and p[2] != own and p[3] == "job":
                bad.append(f"{f}: {m}")
    return bad


def violations_optuna_private(pkg: Path) -> list[str]:
    """Imports of a module or name of Optuna with a leading underscore anywhere in its path."""
    return [
        f"{f}: {m}"
        for f in files(pkg)
        for m in imports(f, pkg)
        if m.split(".")[0] == "optuna" and any(p.startswith("_") for p in m.split(".")[1:])
    ]


def import_circles(pkg: Path, folder: str) -> list[str]:
    """Circles of imports (module-level or inside functions) among the modules under `folder`."""
    here = {}
    for f in files(pkg / folder):
        parts = list(f.relative_to(pkg.parent).with_suffix("").parts)
        here[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = f
    graph = {}
    for m, f in here.items():
        deps = set()
        for name in imports(f, pkg):
            while name and name not in here:
                name = name.rpartition(".")[0]
            if (
                name and name != m and not m.startswith(name + ".")
            ):  # a package's own __init__ is not a circle
                deps.add(name)
        graph[m] = deps
    circles = set()
    for start in graph:  # every module that reaches itself, with one path back to it
        seen, stack = set(), [(start, (start,))]
        while stack:
            m, path = stack.pop()
            for d in graph[m]:
                if d == start:
                    circles.add(" -> ".join(path + (start,)))
                elif d not in seen:
                    seen.add(d)
                    stack.append((d, path + (d,)))
    return sorted(circles)


def _jobs():
    from mpiapp.__main__ import JOBS

    return [j for j in JOBS if j != "config"]  # mpiapp.config is the config layer (its CLI is a view)


CHECKS = {
    "work imports no engine": violations_work_imports_engine,
    "kernels import no runtime/io/config": violations_kernels,
    "no raw MPI under engines/ or work/": violations_raw_mpi,
    "only runtime/comm.py imports mpi4py": violations_mpi4py_outside_comm,
    "no job imports another job": lambda pkg: violations_job_imports_job(pkg, _jobs()),
    "no engine imports another engine's job module": violations_engine_imports_other_job,
    "no Optuna private module": violations_optuna_private,
    "no import circle in engines/hpo": lambda pkg: import_circles(pkg, "engines/hpo"),
}


@pytest.mark.parametrize("rule", list(CHECKS))
def test_the_package_keeps_the_rule(rule):
    assert CHECKS[rule](PKG) == []


def test_no_scan_word_in_the_work_layer():
    words = ("scan", "symbol", "pattern", "window", "pivot")
    hits = [f"{f}: {w}" for f in files(PKG / "work") for w in words if w in f.read_text().lower()]
    assert hits == []


PLANTED = {
    "work imports no engine": ("work/bad.py", "from ..engines.scan import job\n"),
    "kernels import no runtime/io/config": ("kernels/bad.py", "from ..runtime import comm\n"),
    "no raw MPI under engines/ or work/": ("engines/bad.py", "def f(comm):\n    return comm.allreduce(1)\n"),
    "only runtime/comm.py imports mpi4py": ("io/bad.py", "from mpi4py import MPI\n"),
    "no job imports another job": ("score.py", "from . import report\n"),
    "no engine imports another engine's job module": (
        "engines/hpo/train_objective.py",
        "def f():\n    from ..train.job import short_reason\n",
    ),
    "no Optuna private module": (
        "engines/hpo/study.py",
        "def f():\n    from optuna.storages.journal._file import BaseJournalFileLock\n",
    ),
    "no import circle in engines/hpo": (
        "engines/hpo/contract.py",
        "def f():\n    from . import objectives\n",
    ),
}


@pytest.mark.parametrize("rule", list(PLANTED))
def test_each_checker_fails_on_a_planted_violation(tmp_path, rule):
    """The checks can fail: a copy of the package with one violation planted is caught."""
    import shutil

    pkg = tmp_path / "mpiapp"
    shutil.copytree(PKG, pkg, ignore=shutil.ignore_patterns("__pycache__", "*.nbi", "*.nbc"))
    assert CHECKS[rule](pkg) == []
    rel, code = PLANTED[rule]
    target = pkg / rel
    target.write_text(target.read_text() + "\n" + code if target.exists() else code)
    assert CHECKS[rule](pkg) != []
