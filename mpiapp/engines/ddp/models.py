"""The global models: an MLP on one bar's features, and two sequence models over the last bars.

Every model takes x of shape (batch, window, F) float32 — raw store features — and returns (batch,)
predictions of y / y_scale (the forward log return in units of its training standard deviation).
The standardisation (training-split feature mean and standard deviation, y_scale) lives in buffers
of the model, so the saved state_dict is all a user needs to predict (`mpiapp.ddp.load_model`).

- mlp: Linear -> ReLU per width of ddp.hidden, then Linear(., 1), on the window's last row;
- tcn: causal dilated 1-D convolutions (kernel 3, dilation 1, 2, 4, ... per layer; left padding
  only, so the output at a bar sees that bar and earlier ones), ReLU, channels = ddp.hidden, then a
  Linear on the last bar's channels (Bai, Kolter and Koltun 2018, "An empirical evaluation of
  generic convolutional and recurrent networks for sequence modeling");
- gru: a GRU (Cho et al. 2014) of len(ddp.hidden) layers of width ddp.hidden[0], then a Linear on
  the last bar's hidden state.
"""

from __future__ import annotations

KERNEL = 3


def spec(name: str, n_features: int, hidden, window: int, features=()) -> dict:
    """The architecture of model `name` as data (the results file's `model_spec` attribute, JSON):
    enough to rebuild it with torch alone (docs/ddp.md shows the lines). Every model keeps the buffers
    x_mean, x_std (F,) and y_scale () in its state_dict; input x is (batch, window, F) raw features."""
    hidden = [int(h) for h in hidden]
    out = {
        "model": name,
        "inputs": int(n_features),
        "features": list(features),
        "window": int(window),
        "input_scaling": "(x - x_mean) / x_std",
        "output": "y / y_scale (multiply by y_scale: the forward log return)",
    }
    if name == "mlp":
        layers, prev = [], n_features
        for h in hidden:
            layers += [{"type": "Linear", "in": prev, "out": h}, {"type": "ReLU"}]
            prev = h
        layers.append({"type": "Linear", "in": prev, "out": 1})
        out.update(net=layers, forward="net(scaled x[:, -1, :]).squeeze(-1)")
    elif name == "tcn":
        convs, prev = [], n_features
        for i, h in enumerate(hidden):
            convs.append({"type": "Conv1d", "in": prev, "out": h, "kernel": KERNEL, "dilation": 2**i})
            prev = h
        out.update(
            convs=convs,
            head={"type": "Linear", "in": prev, "out": 1},
            forward="z = scaled x transposed to (batch, F, window); per conv: z = relu(conv(left-pad z by "
            "(kernel - 1) * dilation)); head(z[:, :, -1]).squeeze(-1)",
        )
    elif name == "gru":
        out.update(
            rnn={
                "type": "GRU",
                "input_size": n_features,
                "hidden_size": hidden[0],
                "num_layers": len(hidden),
                "batch_first": True,
            },
            head={"type": "Linear", "in": hidden[0], "out": 1},
            forward="out, _ = rnn(scaled x); head(out[:, -1, :]).squeeze(-1)",
        )
    else:
        raise ValueError(f"ddp.model={name!r}: choose from mlp, tcn, gru")
    return out


def build(name: str, n_features: int, hidden, torch):
    """The model `name` (mlp | tcn | gru) for n_features inputs. Raises ValueError for another name."""
    nn = torch.nn

    class _Base(nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("x_mean", torch.zeros(n_features))
            self.register_buffer("x_std", torch.ones(n_features))
            self.register_buffer("y_scale", torch.ones(()))

        def norm(self, x):
            return (x - self.x_mean) / self.x_std

    class MLP(_Base):
        def __init__(self):
            super().__init__()
            layers, prev = [], n_features
            for h in hidden:
                layers += [nn.Linear(prev, int(h)), nn.ReLU()]
                prev = int(h)
            layers.append(nn.Linear(prev, 1))
            self.net = nn.Sequential(*layers)

        def forward(self, x):
            return self.net(self.norm(x[:, -1, :])).squeeze(-1)

    class TCN(_Base):
        def __init__(self):
            super().__init__()
            convs, prev = [], n_features
            for i, h in enumerate(hidden):
                convs.append(nn.Conv1d(prev, int(h), KERNEL, dilation=2**i))
                prev = int(h)
            self.convs = nn.ModuleList(convs)
            self.head = nn.Linear(prev, 1)

        def forward(self, x):
            z = self.norm(x).transpose(1, 2)  # (batch, F, window)
            for conv in self.convs:
                pad = (KERNEL - 1) * conv.dilation[0]
                z = torch.relu(conv(nn.functional.pad(z, (pad, 0))))
            return self.head(z[:, :, -1]).squeeze(-1)

    class GRU(_Base):
        def __init__(self):
            super().__init__()
            self.rnn = nn.GRU(n_features, int(hidden[0]), num_layers=len(hidden), batch_first=True)
            self.head = nn.Linear(int(hidden[0]), 1)

        def forward(self, x):
            out, _ = self.rnn(self.norm(x))
            return self.head(out[:, -1, :]).squeeze(-1)

    models = {"mlp": MLP, "tcn": TCN, "gru": GRU}
    if name not in models:
        raise ValueError(f"ddp.model={name!r}: choose from {', '.join(models)}")
    return models[name]()
