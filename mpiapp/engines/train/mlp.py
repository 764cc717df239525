"""The torch MLP family: a small fully connected network on standardised features.

Architecture: Linear(f, h1) -> ReLU -> ... -> Linear(h_last, 1). Inputs are standardised with the
training mean and standard deviation (stored with the weights); for regression the target is
divided by its training standard deviation (also stored) and predictions scaled back. Loss: mean
squared error (regression) or binary cross-entropy on the logit (classification, P(up) =
sigmoid). Optimiser: Adam (Kingma and Ba 2015) with weight decay, mini-batches in a seeded order;
no DataLoader (no worker processes: no fork after MPI is initialised).

Early stopping (`early_stopping_epochs` = patience > 0): the network is trained on the fit part of
the fold's inner split (cv.inner_split), its loss on the inner validation slice read after every
epoch, and stopped `patience` epochs after the best one (at most `epochs`); the number of epochs of
the best is then trained again, from the same seed, on the whole training fold.

The state_dict plus the scaling tensors and the architecture (`architecture`: JSON text, see
`architecture()`) are written with torch.save and read with `torch.load(..., weights_only=True)`:
tensors and text only, never a pickled object. docs/train.md shows the lines that rebuild the network
from them with torch alone.
"""

from __future__ import annotations

import io
import json

import numpy as np


def _net(torch, n_in: int, hidden):
    layers, prev = [], n_in
    for h in hidden:
        layers += [torch.nn.Linear(prev, int(h)), torch.nn.ReLU()]
        prev = int(h)
    layers.append(torch.nn.Linear(prev, 1))
    return torch.nn.Sequential(*layers)


def architecture(net, task: str, features=()) -> dict:
    """The network as data: {"layers": [{"type": "Linear", "in": f, "out": h}, {"type": "ReLU"}, ...],
    "inputs": feature names in column order, "task", and how inputs and outputs are scaled}. The
    state_dict's keys are net.<layer index>.weight / .bias."""
    import torch

    layers = []
    for m in net:
        if isinstance(m, torch.nn.Linear):
            layers.append({"type": "Linear", "in": int(m.in_features), "out": int(m.out_features)})
        else:
            layers.append({"type": type(m).__name__})
    return {
        "layers": layers,
        "inputs": list(features),
        "task": task,
        "input_scaling": "(x - x_mean) / x_std",
        "output": "sigmoid(net(x)) = P(up)"
        if task == "classification"
        else "net(x) * y_scale = forecast of the forward log return",
    }


class MLPModel:
    chosen = float("nan")

    def __init__(self, net, x_mean, x_std, y_scale, task, device="cpu", features=()):
        self.net, self.x_mean, self.x_std, self.y_scale = net, x_mean, x_std, y_scale
        self.task, self.device, self.features = task, device, tuple(features)

    def predict(self, X):
        import torch

        x = torch.as_tensor(np.asarray(X, dtype=np.float32), device=self.device)
        with torch.no_grad():
            z = self.net((x - self.x_mean) / self.x_std).squeeze(1)
            out = torch.sigmoid(z) if self.task == "classification" else z * self.y_scale
        return out.double().cpu().numpy()

    def gain(self):
        return np.full(int(self.x_mean.shape[0]), np.nan)

    def state(self) -> dict:
        sd = {f"net.{k}": v.detach().cpu() for k, v in self.net.state_dict().items()}
        sd.update(
            {
                "x_mean": self.x_mean.cpu(),
                "x_std": self.x_std.cpu(),
                "y_scale": self.y_scale.cpu(),
                "architecture": json.dumps(architecture(self.net, self.task, self.features)),
            }
        )
        return sd

    def blob(self) -> bytes:
        import torch

        buf = io.BytesIO()
        torch.save(self.state(), buf)
        return buf.getvalue()


def fit_mlp(spec, X, y, inner=None) -> MLPModel:
    """Train on X (m, f), y (m,) with spec.params keys hidden (list of widths), epochs, batch_size,
    learning_rate, weight_decay and early_stopping_epochs (0 = train all epochs; > 0 needs `inner`,
    a cv.InnerSplit of the rows); spec.threads torch threads; spec.seed seeds init and batch order.
    The model's `chosen` is the number of epochs early stopping chose (NaN without it)."""
    import torch

    torch.set_num_threads(int(spec.threads))
    patience = int(spec.params.get("early_stopping_epochs", 0) or 0)
    epochs = int(spec.params["epochs"])
    chosen = float("nan")
    if patience > 0:
        if inner is None:
            raise ValueError("early_stopping_epochs > 0 needs the fold's inner validation slice")
        X = np.asarray(X)
        y = np.asarray(y)
        _, curve = _train(
            torch, spec, X[inner.fit], y[inner.fit], epochs, (X[inner.val], y[inner.val]), patience
        )
        epochs = int(np.argmin(curve)) + 1  # the first of equal losses
        chosen = float(epochs)
    model, _ = _train(torch, spec, X, y, epochs)
    model.chosen = chosen
    model.features = tuple(spec.features)
    return model


def _train(torch, spec, X, y, epochs: int, val=None, patience: int = 0):
    """(MLPModel, validation loss after each epoch run) — the loss list is empty without `val`; with it,
    training stops `patience` epochs after the best loss."""
    p = spec.params
    dev = torch.device(spec.device)
    gen = torch.Generator().manual_seed(int(spec.seed))
    x = torch.as_tensor(np.asarray(X, dtype=np.float32))
    mean = x.mean(0)
    std = x.std(0)
    std = torch.where(std > 0, std, torch.ones_like(std))
    if spec.task == "classification":
        t = torch.as_tensor((np.asarray(y) > 0).astype(np.float32))
        y_scale = torch.tensor(1.0)
        loss_fn = torch.nn.BCEWithLogitsLoss()
    else:
        yt = np.asarray(y, dtype=np.float64)
        s = float(yt.std()) or 1.0
        t = torch.as_tensor((yt / s).astype(np.float32))
        y_scale = torch.tensor(s, dtype=torch.float32)
        loss_fn = torch.nn.MSELoss()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(spec.seed))
        net = _net(torch, x.shape[1], p["hidden"])
    net = net.to(dev)
    xs, t = ((x - mean) / std).to(dev), t.to(dev)
    if val is not None:
        xv = ((torch.as_tensor(np.asarray(val[0], dtype=np.float32)) - mean) / std).to(dev)
        yv = np.asarray(val[1])
        tv = torch.as_tensor(
            (yv > 0).astype(np.float32)
            if spec.task == "classification"
            else (yv / float(y_scale)).astype(np.float32)
        ).to(dev)
    opt = torch.optim.Adam(
        net.parameters(), lr=float(p["learning_rate"]), weight_decay=float(p["weight_decay"])
    )
    m, bs = x.shape[0], int(p["batch_size"])
    curve: list[float] = []
    for _ in range(int(epochs)):
        net.train()
        perm = torch.randperm(m, generator=gen).to(dev)
        for i in range(0, m, bs):
            idx = perm[i : i + bs]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(net(xs[idx]).squeeze(1), t[idx])
            loss.backward()
            opt.step()
        if val is not None:
            net.eval()
            with torch.no_grad():
                curve.append(float(loss_fn(net(xv).squeeze(1), tv)))
            if len(curve) - 1 - int(np.argmin(curve)) >= patience:
                break
    net.eval()
    return MLPModel(net, mean.to(dev), std.to(dev), y_scale.to(dev), spec.task, dev), curve


def load_mlp(blob: bytes, task: str) -> MLPModel:
    """The model stored by MLPModel.blob(), read with weights_only=True, on the CPU."""
    import torch

    sd = torch.load(io.BytesIO(bytes(blob)), map_location="cpu", weights_only=True)
    arch = json.loads(sd["architecture"]) if "architecture" in sd else None
    net_sd = {k[4:]: v for k, v in sd.items() if k.startswith("net.")}
    if arch is not None:
        net = torch.nn.Sequential(
            *[
                torch.nn.Linear(lay["in"], lay["out"])
                if lay["type"] == "Linear"
                else getattr(torch.nn, lay["type"])()
                for lay in arch["layers"]
            ]
        )
    else:  # files written before the architecture was stored: widths from the weight shapes
        idx = sorted({int(k.split(".")[0]) for k in net_sd})
        hidden = [int(net_sd[f"{i}.weight"].shape[0]) for i in idx[:-1]]
        net = _net(torch, int(net_sd[f"{idx[0]}.weight"].shape[1]), hidden)
    net.load_state_dict(net_sd)
    net.eval()
    return MLPModel(
        net, sd["x_mean"], sd["x_std"], sd["y_scale"], task, features=arch["inputs"] if arch else ()
    )
