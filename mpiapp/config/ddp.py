"""`ddp.*`: one global torch model trained data-parallel (`python -m mpiapp.ddp`); docs/ddp.md."""

import datetime

from .keys import ConfigError, Items, Key

# fmt: off
KEYS = (
    # --- the feature store (first phase) -----------------------------------------------------------
    Key("ddp.features_path", str, None, "the feature store (HDF5: rows x features, targets, split); null = "
        "beside the output, OUT.features.h5 (OUT without .h5). Reused when it was built from the same data "
        "(the content of every data file), horizon and split", nullable=True),
    Key("ddp.horizon", int, 5, "target: forward log return over this many bars; the sample at bar t has "
        "label interval [t+1, t+horizon] and is purged when that interval reaches the next split",
        lo=1, hi=10_000),
    Key("ddp.validation_from", str, None, "first date (YYYY-MM-DD) of the validation split; null = the "
        "date that leaves ddp.validation_share of the samples for validation and test", nullable=True),
    Key("ddp.test_from", str, None, "first date (YYYY-MM-DD) of the test split; null = the date that leaves "
        "ddp.test_share of the samples for test", nullable=True),
    Key("ddp.mixed_spacing", bool, False, "pool series of different bar spacing (median time between "
        "consecutive bars, differing by more than 1.5x: e.g. hourly beside daily) in one store; false: such a pool "
        "is refused (exit 2) naming each spacing and its symbols, since ddp.horizon bars would mean different "
        "times"),
    Key("ddp.validation_share", float, 0.15, "share of samples (by date) in the validation split when "
        "ddp.validation_from is null", lo=0.01, hi=0.8),
    Key("ddp.test_share", float, 0.15, "share of samples (by date) in the test split when ddp.test_from "
        "is null", lo=0.01, hi=0.8),
    # --- the model -----------------------------------------------------------------------------------
    Key("ddp.model", str, "mlp", "mlp: on the bar's features; tcn: causal temporal convolution over the "
        "last ddp.lookback bars; gru: a GRU over the last ddp.lookback bars", choices=("mlp", "tcn", "gru")),
    Key("ddp.hidden", list, [64, 32], "mlp: hidden layer widths; tcn: channels per convolution layer "
        "(dilation doubling per layer); gru: hidden size per stacked layer (all equal to the first)",
        items=Items(int, lo=1, hi=65536)),
    Key("ddp.lookback", int, 32, "tcn / gru: bars of features in each sample (the bar and the ones before "
        "it, same symbol); mlp uses the bar alone", lo=1, hi=4096),
    # --- training ------------------------------------------------------------------------------------
    Key("ddp.batch_size", int, 512, "global batch: samples per optimizer step over all ranks and micro-"
        "batches (the same at any rank count)", lo=1, hi=1 << 24),
    Key("ddp.accumulation_steps", int, 1, "micro-batches per optimizer step (gradients synchronised on the "
        "last only, no_sync on the others)", lo=1, hi=4096),
    Key("ddp.epochs", int, 10, "passes over the training split (fewer with early stopping)", lo=1,
        hi=100_000),
    Key("ddp.max_steps", int, 0, "stop after this many optimizer steps (0 = no limit)", lo=0),
    Key("ddp.learning_rate", float, 1e-3, "AdamW peak learning rate", lo=1e-8, hi=10.0),
    Key("ddp.weight_decay", float, 1e-4, "AdamW decoupled weight decay", lo=0.0, hi=1.0),
    Key("ddp.schedule", str, "cosine", "learning rate: constant, or cosine decay to 0 over all steps; both "
        "after ddp.warmup_steps of linear warm-up", choices=("constant", "cosine")),
    Key("ddp.warmup_steps", int, 20, "linear warm-up steps of the learning rate", lo=0),
    Key("ddp.grad_clip", float, 1.0, "clip the global gradient norm to this (0 = no clipping)", lo=0.0),
    Key("ddp.patience", int, 3, "early stopping: epochs without a lower validation loss before training "
        "stops; the best epoch's weights are kept (0 = never stop early)", lo=0, hi=100_000),
    Key("ddp.precision", str, "auto", "auto: bf16 on a GPU that has it, else fp16 with a gradient scaler; "
        "on CPU bf16 autocast only when the CPU has native bf16 (avx512_bf16 / amx_bf16), else fp32",
        choices=("auto", "fp32", "bf16", "fp16")),
    Key("ddp.seed", int, 0, "seed of the initial weights and of the sample order (a function of seed, epoch "
        "and sample index only: the same at any rank count)", lo=0, hi=(1 << 31) - 1),
    Key("ddp.shuffle_block", int, 32, "samples per shuffle block: the order permutes blocks of consecutive "
        "samples, then the samples inside each block (each rank reads whole blocks)", lo=1, hi=1 << 20),
    Key("ddp.buffer_rows", int, 65536, "most feature rows a rank holds in memory at once (read buffer, "
        "evaluation chunk); memory per rank is bounded by this, not by the data size", lo=64, hi=1 << 30),
    # --- processes and devices -----------------------------------------------------------------------
    Key("ddp.backend", str, "auto", "torch.distributed backend: auto = nccl when every rank has a GPU, else "
        "gloo", choices=("auto", "gloo", "nccl")),
    Key("ddp.cpu_allreduce", str, "mpi", "CPU ranks: the gradient all-reduce over MPI (shared memory in a node, "
        "the cluster's fabric between nodes: what mpiexec set up) or over gloo's TCP; GPUs always use nccl",
        choices=("mpi", "gloo")),
    Key("ddp.device", str, "auto", "auto = cuda when every rank has a GPU (node-local rank modulo visible "
        "GPUs), else cpu", choices=("auto", "cpu", "cuda")),
    Key("ddp.threads", int, 0, "torch intra-op threads per rank; 0 = the rank's budget from the thread plan",
        lo=0, hi=4096),
    Key("ddp.timeout_s", float, 300.0, "process-group timeout: a collective that stalls this long ends the "
        "job with a message naming the step", lo=1.0, hi=86400.0),
    Key("ddp.checkpoint_steps", int, 200, "write a checkpoint every this many optimizer steps (and at a "
        "stop signal and each epoch end); 0 = only at a stop signal and epoch ends", lo=0),
)
# fmt: on


def _check(d) -> None:
    dates = {}
    for k in ("validation_from", "test_from"):
        v = getattr(d, k)
        if v is not None:
            try:
                dates[k] = datetime.date.fromisoformat(str(v))
            except ValueError:
                raise ConfigError(f"ddp.{k} = {v!r}: expected a date YYYY-MM-DD or null") from None
    if len(dates) == 2 and dates["validation_from"] >= dates["test_from"]:
        raise ConfigError(
            f"ddp.validation_from = {d.validation_from} must come before ddp.test_from = {d.test_from}"
        )
    if d.validation_share + d.test_share >= 0.9:
        raise ConfigError(
            f"ddp.validation_share + ddp.test_share = {d.validation_share + d.test_share:g}: "
            "leaves less than 10 % of the samples to train on"
        )
    if d.batch_size < d.accumulation_steps:
        raise ConfigError(
            f"ddp.batch_size = {d.batch_size} < ddp.accumulation_steps = {d.accumulation_steps}: "
            "every micro-batch needs a sample"
        )


#: cross-key rules: section path -> function of that section's values (config.load and DDPParams)
CHECKS = {"ddp": _check}
