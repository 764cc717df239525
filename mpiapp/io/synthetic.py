"""Seeded synthetic universe (`synthetic:N`) with planted Elliott impulses and their ground truth.

Symbol i of N is named ``SYN0000`` … (zero-padded to max(4, digits of N-1)) and is generated from
``np.random.default_rng([seed, i])`` alone, so any rank can generate any symbol, alone or in a batch,
with identical results.

Background: a log-price random walk with regime changes (regime lengths geometric, mean 250 bars;
per regime a volatility of about 0.7 %, 1.2 % or 2 % per bar and a small drift) and a weak pull
(1/1500 per bar) back towards the symbol's starting level, so long series stay in a sane range.
Bars: open = previous close (plus a tiny gap), High/Low = max/min(Open, Close) widened by random wicks.
With plant_rate 0 that is all (the pure random walk for false-alarm counts).

Planted impulses: floor(rate*n/1000) plus one more with the fractional probability, at most as
many as fit. Each is a run of seven legs built as bounded bridges: a lead-in (20-40 bars) into p0,
waves 1-5, a lead-out (8-20 bars, 10-18 % away from p5); stretches of background (>= 20 bars)
separate runs. Shape:

* ratios r2 = L2/L1, r3 = L3/L1, r4 = L4/L3, r5 = L5/L1 drawn uniformly within +-50 % of the band's
  half-width around the ideal (0.618, 1.618, 0.382, 1.0), inside the bands (r2 at or above
  its ideal, r4 at or below: alternation); then each leg length is multiplied by
  1 + noise/4 * U(-1, 1), so realised ratios lie inside the bands widened by the factor
  (1 + noise/4) / (1 - noise/4) (noise 0.1: about +-5 % relative);
* rules R1-R4 hold with a margin (p2, p4, p3, p5 clear p0, p1, p1, p3 by >= 10 % of L1);
* durations: D3 >= D1; D4 = 2-3.5 x D2 (or the reverse, 30 %); D5 puts p5 as close as it can to the
  2-4 channel's parallel through p3 within 0.5 <= D5/D1 <= 1.5; jittered by noise/4; stretched so
  no leg moves more than 1.2 % (log) per bar; span t0..t5 60-300 bars (under the default window);
* price scale f = L1/p0 in 10-25 % (bearish: every pivot stays above 35 % of p0);
* every reversal (p0 against the lead-in, p1..p4, p5 against the lead-out) is >= 6 % of the higher
  price (2 x the default 3 % zig-zag threshold), and no retracement inside a leg (a bar's own range
  included) reaches 2 %, so a 3 % zig-zag over High/Low finds exactly the six pivots;
* each pivot bar is the strict extreme of both legs it joins (the bar's Low = p for a low pivot,
  High for a high; every other bar of those legs stays >= 0.02 % inside);
* noise also sets each leg's wiggle around its straight line (bridge std at mid-leg about
  noise/2 x the leg's log length), halved until the leg is clean.

So that the impulse's p0 is a start point of every 500-bar window holding it (docs/scan.md: with
`scan.max_start_points` set, the most extreme pivots of a window), the direction and the lead-in
depth (10-20 %, more where needed, as far as 1.2 % per bar allows) put p0 >= 3 % beyond the extreme of the previous 500 bars (the direction
that needs less; when both fit, bullish with probability 1/(1 + exp(3*(level - start level)))), and
the background after the run, up to t0 + 500, is a random walk reflected 3 % inside p0.

Time axis: business days from 2000-01-03 (up to 60,000 bars), 1-minute bars from 2000-01-03 beyond.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from .series import Series

PREFIX = "SYN"

# Shape constants (see the module docstring); designed around the default 3 % zig-zag threshold.
MIN_SWING = 0.06  # every planted reversal, as a fraction of the higher price
INNER_SWING = 0.02  # no retracement inside a planted leg reaches this fraction
MAX_STEP = 0.012  # at most this log move per bar along a planted leg
RULE_MARGIN = 0.10  # R1, R3, R4 hold by at least this fraction of L1
EPS = 2e-4  # other bars stay this far (log) inside a pivot's price
SPAN = (60, 300)  # bars from t0 to t5
LEAD_IN_BARS, LEAD_IN_DEPTH = (20, 40), (0.10, 0.20)
LOOKBACK = 500  # p0 goes beyond the extreme of this many earlier bars (one default window)
LOOKBACK_MARGIN = 0.03  # ... by this much (log)
GUARD_MARGIN = 0.03  # background up to t0 + LOOKBACK is reflected this far (log) inside p0
LEAD_OUT_BARS, LEAD_OUT_DEPTH = (8, 20), (0.10, 0.18)
GAP_MIN = 20  # background bars before, between and after planted runs
F_RANGE = (0.10, 0.25)  # L1 / p0
BEAR_FLOOR = 0.35  # bearish pivots stay above this fraction of p0
KAPPA = 1.0 / 1500.0  # pull of the background towards the starting level, per bar
REGIME_MEAN = 250

BANDS = {
    "r2": (0.382, 0.618, 0.786),
    "r3": (1.0, 1.618, 2.618),
    "r4": (0.236, 0.382, 0.5),
    "r5": (0.618, 1.0, 1.618),
}


@dataclass(frozen=True)
class Impulse:
    """One planted impulse: direction +1 bullish / -1 bearish, pivot bar indices t0..t5 (into the
    symbol's series) and pivot prices p0..p5 (exactly the Low/High of those bars)."""

    symbol: str
    direction: int
    t: tuple
    p: tuple

    @property
    def legs(self) -> tuple:
        return tuple(abs(self.p[i] - self.p[i - 1]) for i in range(1, 6))

    @property
    def durations(self) -> tuple:
        return tuple(self.t[i] - self.t[i - 1] for i in range(1, 6))

    @property
    def ratios(self) -> dict:
        L1, L2, L3, L4, L5 = self.legs
        return {"r2": L2 / L1, "r3": L3 / L1, "r4": L4 / L3, "r5": L5 / L1}


def symbol_name(i: int, n: int) -> str:
    return f"{PREFIX}{i:0{max(4, len(str(max(n - 1, 0))))}d}"


def symbol_index(name: str, n: int) -> int:
    """Inverse of symbol_name; raises KeyError for a name that is not one of the N symbols."""
    try:
        i = int(name[len(PREFIX) :])
    except ValueError:
        raise KeyError(name) from None
    if not name.startswith(PREFIX) or not 0 <= i < n or symbol_name(i, n) != name:
        raise KeyError(name)
    return i


def time_axis(n: int) -> np.ndarray:
    if n <= 60_000:
        days = np.busday_offset("2000-01-03", np.arange(n), roll="forward")
        return days.astype("datetime64[ns]").view(np.int64)
    start = np.datetime64("2000-01-03T00:00", "ns").view(np.int64)
    return start + np.arange(n, dtype=np.int64) * 60_000_000_000


# --------------------------------------------------------------------------------------------------
# Shapes (drawn before placement; independent of direction and price level)
# --------------------------------------------------------------------------------------------------


@dataclass
class _Shape:
    ell: np.ndarray  # leg lengths in units of L1 (ell[0] == 1)
    dur: np.ndarray  # D1..D5 (int)
    n_in: int
    n_out: int
    q_in: float
    q_out: float

    @property
    def span(self) -> int:
        return int(self.dur.sum())

    @property
    def length(self) -> int:
        return self.n_in + self.span + self.n_out


def _cum(ell) -> np.ndarray:
    """Pivot offsets c0..c5 in units of L1 along the impulse direction."""
    signs = np.array([1, -1, 1, -1, 1.0])
    return np.concatenate([[0.0], np.cumsum(signs * ell)])


def _f_bounds(ell, direction: int) -> tuple[float, float]:
    """Range of f = L1/p0 for which every leg's reversal is >= MIN_SWING and (bearish) every pivot
    stays above BEAR_FLOOR."""
    c = _cum(ell)
    f_lo, f_hi = F_RANGE
    for i in range(5):
        if direction > 0:  # p = 1 + f c; reversal = f l / (1 + f max(c))
            denom = ell[i] - MIN_SWING * max(c[i], c[i + 1])
        else:  # p = 1 - f c; reversal = f l / (1 - f min(c))
            denom = ell[i] + MIN_SWING * min(c[i], c[i + 1])
        if denom <= 0:
            return 1.0, 0.0
        f_lo = max(f_lo, MIN_SWING / denom)
    if direction < 0:
        f_hi = min(f_hi, (1.0 - BEAR_FLOOR) / c.max())
    return f_lo, f_hi


def _draw_ratio(rng, key, side: int = 0) -> float:
    """Uniform within +-50 % of the band's half-width around the ideal m (side +1: above m only,
    -1: below m only), clipped to the band."""
    lo, m, hi = BANDS[key]
    u = rng.uniform(-0.5, 0.5) if side == 0 else side * rng.uniform(0.0, 0.5)
    return float(np.clip(m + u * (hi - lo) / 2.0, lo, hi))


def _rules_ok(ell) -> bool:
    c = _cum(ell)
    m = RULE_MARGIN
    return bool(
        c[2] >= m  # R1: p2 above p0
        and ell[2] >= min(ell[0], ell[4])  # R2
        and c[4] - c[1] >= m  # R3: p4 above p1
        and c[3] - c[1] >= m
        and c[5] - c[3] >= m
    )  # R4


def _step_f_max(ell, direction: int, dur) -> float:
    """Largest f (<= F_RANGE[1]) at which no leg moves more than MAX_STEP (log) per bar.

    Leg i moves between prices 1 + d f c[i-1] and 1 + d f c[i]; the larger over the smaller must be
    <= K = exp(MAX_STEP * D_i), i.e. d f (c_far - K c_near) <= K - 1."""
    c = _cum(ell)
    f_max = F_RANGE[1]
    if direction < 0:
        f_max = min(f_max, 0.999 / c.max())
    for i in range(5):
        K = math.exp(MAX_STEP * float(dur[i]))
        up = (c[i + 1] > c[i]) == (direction > 0)  # price rises along this leg
        hi_c, lo_c = (c[i + 1], c[i]) if up else (c[i], c[i + 1])
        denom = direction * (hi_c - K * lo_c)
        if denom > 0:
            f_max = min(f_max, (K - 1.0) / denom)
    return f_max


def _draw_shape(rng, noise: float) -> _Shape:
    jit = noise / 4.0
    for _ in range(200):
        # alternation: a deep wave 2 (r2 at or above its ideal), a shallow wave 4 (r4 at or below)
        r2, r3, r4, r5 = (
            _draw_ratio(rng, "r2", +1),
            _draw_ratio(rng, "r3"),
            _draw_ratio(rng, "r4", -1),
            _draw_ratio(rng, "r5"),
        )
        ell = np.array([1.0, r2, r3, r3 * r4, r5]) * (1.0 + jit * rng.uniform(-1, 1, 5))
        ell = ell / ell[0]
        if not _rules_ok(ell):
            continue
        bounds = [_f_bounds(ell, d) for d in (1, -1)]
        if any(lo > hi for lo, hi in bounds):
            continue
        c = _cum(ell)
        d1 = float(rng.integers(10, 31))
        d2 = d1 * rng.uniform(0.4, 0.8)
        d3 = d1 * rng.uniform(1.0, 1.8)
        d4 = d2 * rng.uniform(2.0, 3.5)
        if rng.random() < 0.3:  # the other alternation: a long wave 2, a sharp wave 4
            d2, d4 = d4, d2
        dj = 1.0 + jit * rng.uniform(-1, 1, 5)
        d2, d4 = d2 * dj[1], d4 * dj[3]
        d3 = max(d3 * dj[2], d1)
        slope = (c[4] - c[2]) / (d3 + d4)  # 2-4 line, units of L1 per bar
        d5 = (c[5] - c[3]) / slope - d4 if slope > 0 else d1
        d5 = float(np.clip(d5 * dj[4], 0.5 * d1, 1.5 * d1))
        dur = np.array([d1, d2, d3, d4, d5])
        # stretch time so that even at the smallest admissible f no leg moves > MAX_STEP per bar
        need = 1.0
        for d, (f_lo, _) in zip((1, -1), bounds):
            logs = np.abs(np.diff(np.log1p(d * f_lo * c)))
            need = max(need, float(np.max(logs / MAX_STEP / dur)))
        di = np.maximum(3, np.round(dur * need * 1.02)).astype(np.int64)
        di[2] = max(di[2], di[0])
        di[4] = int(np.clip(di[4], math.ceil(0.5 * di[0]), math.floor(1.5 * di[0])))
        if not SPAN[0] <= di.sum() <= SPAN[1]:
            continue
        if any(_step_f_max(ell, d, di) < f_lo for d, (f_lo, _) in zip((1, -1), bounds)):
            continue
        return _Shape(
            ell,
            di,
            int(rng.integers(LEAD_IN_BARS[0], LEAD_IN_BARS[1] + 1)),
            int(rng.integers(LEAD_OUT_BARS[0], LEAD_OUT_BARS[1] + 1)),
            float(rng.uniform(*LEAD_IN_DEPTH)),
            float(rng.uniform(*LEAD_OUT_DEPTH)),
        )
    # fallback (never seen in practice): the ideal ratios and textbook durations
    return _Shape(
        np.array([1.0, 0.618, 1.618, 1.618 * 0.382, 1.0]), np.array([20, 12, 30, 24, 20]), 20, 12, 0.15, 0.14
    )


# --------------------------------------------------------------------------------------------------
# Legs (log-price bars)
# --------------------------------------------------------------------------------------------------


def _leg(
    rng,
    c_prev: float,
    a: float,
    b: float,
    n: int,
    *,
    wiggle: float,
    wick: float,
    clip_start: bool,
    end_pivot: bool,
):
    """Bars 1..n of a leg from log level a to log level b: (open, high, low, close) log arrays.

    Built in direction coordinates y = s*x (rising). Bounded bridge: closes stay >= 2*EPS inside
    the start level (clip_start, when the leg starts at a pivot) and the end level (end_pivot); wicks
    >= EPS inside; the last bar's extreme is exactly b when end_pivot. The wiggle (and wicks) are
    halved until no retracement inside the leg reaches INNER_SWING; the last try is a straight line.
    """
    s = 1.0 if b >= a else -1.0
    ya, yb, y0 = s * a, s * b, s * c_prev
    u = np.arange(1, n + 1) / n
    lim = -math.log1p(-INNER_SWING)
    for attempt in range(7):
        k = 0.5**attempt if attempt < 6 else 0.0
        z = rng.standard_normal(n)
        zw = np.abs(rng.standard_normal((2, n)))
        w = np.cumsum(z) * (wiggle * k)
        yc = ya + (yb - ya) * u + w - u * w[-1]
        lo_c = ya + 2 * EPS if clip_start else -np.inf
        hi_c = yb - 2 * EPS if end_pivot else np.inf
        yc = np.clip(yc, lo_c, hi_c)
        yc[-1] = yb - 2 * EPS if end_pivot else yb
        yo = np.concatenate([[y0], yc[:-1]])
        yh = np.maximum(yo, yc) + wick * k * zw[0]
        yl = np.minimum(yo, yc) - wick * k * zw[1]
        if end_pivot:
            yh = np.minimum(yh, yb - EPS)
            yh[-1] = yb
        if clip_start:
            yl = np.maximum(yl, ya + EPS)
        runmax = np.maximum.accumulate(np.concatenate([[y0], yh]))[1:]
        if np.max(runmax - yl) < lim:
            break
    if s > 0:
        return yo, yh, yl, yc
    return -yo, -yl, -yh, -yc


# --------------------------------------------------------------------------------------------------
# One symbol
# --------------------------------------------------------------------------------------------------


def _regimes(rng, n: int):
    sig = np.empty(n)
    mu = np.empty(n)
    pos = 0
    while pos < n:
        length = int(rng.geometric(1.0 / REGIME_MEAN))
        level = rng.choice([0.007, 0.012, 0.02], p=[0.4, 0.4, 0.2]) * rng.uniform(0.8, 1.25)
        sig[pos : pos + length] = level
        mu[pos : pos + length] = rng.normal(0.0, 0.0004)
        pos += length
    return sig, mu


@functools.lru_cache(maxsize=4)
def generate(
    seed: int, i: int, n_bars: int, plant_rate: float = 1.0, noise: float = 0.1, n_symbols: int = 10_000
) -> tuple[Series, tuple[Impulse, ...]]:
    """Symbol i of a synthetic universe: (Series, planted impulses). Cached (arrays read-only).

    n_symbols only names the symbol (zero padding); the data depend on (seed, i, n_bars,
    plant_rate, noise) alone.
    """
    name = symbol_name(i, n_symbols)
    rng = np.random.default_rng([int(seed), int(i)])
    n = int(n_bars)
    x0 = rng.uniform(math.log(20.0), math.log(400.0))
    sig, mu = _regimes(rng, n)
    z = rng.standard_normal(n)
    zgap = rng.standard_normal(n)
    zw = np.abs(rng.standard_normal((2, n)))

    # planted runs: how many, their shapes, where
    expected = plant_rate * n / 1000.0
    k = int(math.floor(expected)) + int(rng.random() < expected - math.floor(expected))
    shapes = [_draw_shape(rng, noise) for _ in range(k)]
    while shapes and sum(s.length for s in shapes) + GAP_MIN * (len(shapes) + 1) > n:
        shapes.pop()
    k = len(shapes)
    free = n - sum(s.length for s in shapes) - GAP_MIN * (k + 1)
    share = np.floor(rng.dirichlet(np.ones(k + 1)) * free).astype(np.int64) if k else np.array([free])
    gaps = GAP_MIN + share
    gaps[-1] += n - sum(s.length for s in shapes) - int(gaps.sum())

    lo, lh, ll, lc = (np.empty(n) for _ in range(4))
    truth = []
    pos = 0
    x = x0

    guard = [0, 0.0, 0]  # background bars before guard[0] stay on side guard[2] of level guard[1]

    def background(count: int) -> None:
        nonlocal pos, x
        end = pos + count
        for s0 in range(pos, end, 128):
            s1 = min(end, s0 + 128)
            r = mu[s0:s1] - KAPPA * (x - x0) + sig[s0:s1] * z[s0:s1]
            c = x + np.cumsum(r)
            g_end = min(s1, guard[0]) - s0
            if g_end > 0:  # reflected walk: beyond-p0 excursions are mirrored back
                lvl, gd = guard[1], guard[2]
                c[:g_end] = lvl + gd * np.abs(c[:g_end] - lvl)
            o = np.concatenate([[x], c[:-1]]) + 0.1 * sig[s0:s1] * zgap[s0:s1]
            lc[s0:s1], lo[s0:s1] = c, o
            lh[s0:s1] = np.maximum(o, c) + 0.4 * sig[s0:s1] * zw[0, s0:s1]
            ll[s0:s1] = np.minimum(o, c) - 0.4 * sig[s0:s1] * zw[1, s0:s1]
            if g_end > 0:
                edge = guard[1] - guard[2] * (GUARD_MARGIN - 0.005)  # still inside p0
                if guard[2] > 0:
                    ll[s0 : s0 + g_end] = np.maximum(ll[s0 : s0 + g_end], edge)
                else:
                    lh[s0 : s0 + g_end] = np.minimum(lh[s0 : s0 + g_end], edge)
            x = c[-1]
        pos = end

    def put(bars) -> None:
        nonlocal pos, x
        o, h, l, c = bars
        m = o.shape[0]
        lo[pos : pos + m], lh[pos : pos + m], ll[pos : pos + m], lc[pos : pos + m] = o, h, l, c
        pos += m
        x = c[-1]

    for j in range(k + 1):
        background(int(gaps[j]))
        if j == k:
            break
        sh = shapes[j]
        # direction and lead-in depth: p0 beyond the extreme of the last LOOKBACK bars (so it is a
        # start point of every window that holds the impulse), as far as the lead-in's bars allow
        back = slice(max(0, pos - LOOKBACK), pos)
        need = {
            1: x - float(ll[back].min()) + LOOKBACK_MARGIN,
            -1: float(lh[back].max()) - x + LOOKBACK_MARGIN,
        }
        allowed = 0.9 * MAX_STEP * sh.n_in
        p_bull = 1.0 / (1.0 + math.exp(3.0 * (x - x0)))
        u = rng.random()
        feasible = [dd for dd in (1, -1) if need[dd] <= allowed]
        if len(feasible) == 2:
            d = 1 if u < p_bull else -1
        elif feasible:
            d = feasible[0]
        else:
            d = 1 if need[1] <= need[-1] else -1
        depth = min(allowed, max(-math.log1p(-sh.q_in), need[d]))  # log move into p0
        f_lo, f_hi = _f_bounds(sh.ell, d)
        f_hi = min(f_hi, _step_f_max(sh.ell, d, sh.dur))
        f = rng.uniform(f_lo, f_hi) if f_hi > f_lo else f_lo
        c = _cum(sh.ell)
        base = x - d * depth
        piv = base + np.log1p(d * f * c)  # log pivot prices
        out = piv[5] + (math.log1p(-sh.q_out) if d > 0 else -math.log1p(-sh.q_out))
        t0 = pos + sh.n_in - 1
        put(
            _leg(
                rng,
                x,
                x,
                piv[0],
                sh.n_in,
                wiggle=noise * abs(piv[0] - x) / math.sqrt(sh.n_in),
                wick=0.0015,
                clip_start=False,
                end_pivot=True,
            )
        )
        for w in range(5):
            nb = int(sh.dur[w])
            put(
                _leg(
                    rng,
                    x,
                    piv[w],
                    piv[w + 1],
                    nb,
                    wiggle=noise * abs(piv[w + 1] - piv[w]) / math.sqrt(nb),
                    wick=0.0015,
                    clip_start=True,
                    end_pivot=True,
                )
            )
        put(
            _leg(
                rng,
                x,
                piv[5],
                out,
                sh.n_out,
                wiggle=noise * abs(out - piv[5]) / math.sqrt(sh.n_out),
                wick=0.0015,
                clip_start=True,
                end_pivot=False,
            )
        )
        truth.append((d, t0 + np.concatenate([[0], np.cumsum(sh.dur)])))
        guard[:] = [t0 + LOOKBACK, piv[0] + d * GUARD_MARGIN, d]
    assert pos == n, (pos, n)

    o, h, l, c = np.exp(lo), np.exp(lh), np.exp(ll), np.exp(lc)
    h = np.maximum(h, np.maximum(o, c))  # exp() rounding can not break H >= max(O, C) ...
    l = np.minimum(l, np.minimum(o, c))  # ... but make sure
    impulses = []
    for d, t in truth:
        t = tuple(int(v) for v in t)
        p = tuple(float(l[ti] if (w % 2 == 0) == (d > 0) else h[ti]) for w, ti in enumerate(t))
        impulses.append(Impulse(name, int(d), t, p))
    arrays = [time_axis(n), o, h, l, c]
    for a in arrays:
        a.setflags(write=False)
    return Series(name, *arrays, origin=f"synthetic:{n_symbols}[seed={seed}]", has_ohlc=True), tuple(impulses)
