"""Exit codes are said by name (mpiapp/exits.py), never as numbers scattered through the code.

Checked on the source (ast): no `main` returns a number, no exit call or exit_code is given one,
and mpiapp/exits.py imports nothing (so every layer may use it). The checker is shown failing on a
planted violation.
"""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from mpiapp import exits

ROOT = Path(__file__).resolve().parent.parent
PKG = ROOT / "mpiapp"
EXIT_CALLS = {"exit", "_exit", "exit_process"}


def _int(node) -> bool:
    return isinstance(node, ast.Constant) and type(node.value) is int


def violations(pkg: Path) -> list[str]:
    bad = []
    for f in sorted(pkg.rglob("*.py")):
        if f == pkg / "exits.py":
            continue
        tree = ast.parse(f.read_text())
        for fn in ast.walk(tree):
            if isinstance(fn, ast.FunctionDef) and fn.name == "main":
                bad += [
                    f"{f}:{n.lineno}: main returns {n.value.value}"
                    for n in ast.walk(fn)
                    if isinstance(n, ast.Return) and _int(n.value)
                ]
        for n in ast.walk(tree):
            if isinstance(n, ast.Call):
                name = n.func.attr if isinstance(n.func, ast.Attribute) else getattr(n.func, "id", "")
                if name in EXIT_CALLS and n.args and _int(n.args[0]):
                    bad.append(f"{f}:{n.lineno}: {name}({n.args[0].value})")
                bad += [
                    f"{f}:{n.lineno}: exit_code={k.value.value}"
                    for k in n.keywords
                    if k.arg == "exit_code" and _int(k.value)
                ]
            if isinstance(n, ast.Dict):
                bad += [
                    f"{f}:{n.lineno}: 'exit_code': {v.value}"
                    for k, v in zip(n.keys, n.values)
                    if isinstance(k, ast.Constant) and k.value == "exit_code" and _int(v)
                ]
    return bad


def test_exit_codes_are_said_by_name():
    assert violations(PKG) == []


def test_the_exit_codes_module_imports_nothing():
    tree = ast.parse((PKG / "exits.py").read_text())
    assert not [n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))]
    assert (exits.OK, exits.FAILED, exits.USAGE, exits.UNITS_FAILED, exits.RESUMABLE) == (0, 1, 2, 3, 75)


@pytest.mark.parametrize(
    "planted",
    [
        "def main():\n    return 2\n",
        "import sys\nsys.exit(3)\n",
        "summary = {'exit_code': 3}\n",
        "def f(E):\n    raise E('x', exit_code=1)\n",
    ],
)
def test_the_checker_fails_on_a_planted_number(tmp_path, planted):
    pkg = tmp_path / "mpiapp"
    pkg.mkdir()
    (pkg / "exits.py").write_text("OK = 0\n")
    (pkg / "ok.py").write_text("from . import exits\n\ndef main():\n    return exits.OK\n")
    assert violations(pkg) == []
    (pkg / "bad.py").write_text(planted)
    assert len(violations(pkg)) == 1


def test_a_usage_error_exits_with_the_usage_code():
    r = subprocess.run(
        [sys.executable, "-m", "mpiapp", "nosuchjob"], capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    assert r.returncode == exits.USAGE and "unknown job 'nosuchjob'" in r.stderr
