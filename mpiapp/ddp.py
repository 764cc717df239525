"""`python -m mpiapp.ddp`: one global torch model trained data-parallel on every symbol's features.

    mpiexec -n 2 python -m mpiapp.ddp                           # builtin:sp500stocks -> results/ddp.h5
    mpiexec -n 4 python -m mpiapp.ddp --data synthetic:200 --set ddp.model=tcn
    srun python -m mpiapp.ddp --resume                          # inside sbatch, after preemption

Started by mpiexec / srun like every mpiapp job (not torchrun): rank 0 opens torch's rendezvous
store on a free port and tells the others over MPI; gloo on CPUs, nccl when every rank has a GPU.
First the feature store (ddp.features_path, default beside the output; built on the work layer,
reused when it matches the data and settings), then training with DistributedDataParallel;
docs/ddp.md.

Exit codes: 0 complete; 1 a rank failed (every rank is ended) or the loss became non-finite; 2 bad
input or configuration; 75 stopped by SIGTERM/SIGUSR1 (a checkpoint is written: rerun with --resume).
"""

from __future__ import annotations

from . import cli


def parse(argv=None):
    ap = cli.parser("ddp", __doc__)
    ap.add_argument("--model", choices=("mlp", "tcn", "gru"), help="ddp.model")
    ap.add_argument("--epochs", type=int, metavar="N", help="ddp.epochs")
    return ap.parse_args(argv)


def load_state(path: str) -> dict:
    """The final weights of a results file as a state_dict (tensors), read with weights_only=True.

    Raises KeyError when the file has no `model` dataset (not a ddp results file).
    """
    import io

    import h5py
    import torch

    with h5py.File(path, "r") as f:
        blob = f["model"][()].tobytes()
    return torch.load(io.BytesIO(blob), map_location="cpu", weights_only=True)


def load_model(path: str):
    """The trained model of a results file, ready to predict: model(x) with x (batch, window, F)
    float32 raw store features -> (batch,) predictions of y / y_scale (multiply by the model's
    y_scale buffer for log returns)."""
    import json

    import torch

    from . import config
    from .engines.ddp.models import build
    from .io.results import read_attrs

    a = read_attrs(path)
    cfg = config.loads(a["config"], origin=path)
    model = build(cfg.ddp.model, len(json.loads(a["features"])), cfg.ddp.hidden, torch)
    model.load_state_dict(load_state(path))
    return model.eval()


def _run(ctx, opts):
    from .engines.ddp import job

    return job.run(ctx, opts)


def _show(outcome) -> None:
    from .engines.ddp.report import run_summary

    print(run_summary(outcome.summary))


def main(argv=None) -> int:
    return cli.main(
        "ddp", parse(argv), run=_run, show=_show, extra_flags={"model": "ddp.model", "epochs": "ddp.epochs"}
    )


if __name__ == "__main__":
    from .runtime.comm import exit_process

    exit_process(main())
