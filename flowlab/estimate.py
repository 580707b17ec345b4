"""How sure is a sampled number: 95 % intervals for estimated bytes and packets.

A sampled record stands for ``sampling_rate`` (N) packets: the ``bytes`` and
``packets`` of a group are estimates. This module turns the records of a group
into *evidence* (mergeable sums: the sample count and the moments the
estimator needs) and the evidence into intervals, so that the analyses, the
graphs and the Elasticsearch push-down compute the same numbers. The method
and its assumptions are in ``docs/intervals.md``; in short:

- packets: the sampled count c of a 1-in-N sampler is Binomial(P, 1/N); the
  interval is the gamma interval of Fay & Feuer (1997) for a weighted sum of
  Poisson counts (one weight per sampling rate), with the binomial factor
  (N-1)/N on the variance. For one rate it is the exact Poisson (Garwood)
  interval of c scaled by N below :data:`LOW_EVIDENCE_SAMPLES` samples (coverage
  at least 95 %), and the Jeffreys interval from there on (coverage close to 95 %);
- bytes: the ratio estimator N x (sum of the sampled frame lengths), its
  interval the same gamma interval with the sampled frame sizes as weights;
- rows with ``sampling_rate`` 1 are exact (zero-width intervals); rows without a
  sampling rate make the group's intervals null (unknown, not zero).

Use :func:`add_intervals` on flows, or, inside your own ``group_by``,
:func:`evidence` then :func:`with_intervals`.

Examples
--------
>>> import polars as pl
>>> f = pl.DataFrame({"edge": ["a"] * 4 + ["b"], "sampling_rate": [100] * 4 + [1],
...                   "packets": [100] * 4 + [1], "bytes": [150000] * 4 + [60]})
>>> add_intervals(f, "edge").select("edge", "packets", "packets_lo", "packets_hi",
...                                 "samples", "low_evidence").rows()
[('a', 400, 109, 1022, 4, True), ('b', 1, 1, 1, 1, False)]
>>> [round(x) for x in volume_interval(400.0, 400.0 * 99, 100.0, 99.0 * 100)]  # 4 samples, 1-in-100
[110, 1021]
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, TypeVar

import numpy as np
import polars as pl

__all__ = [
    "EVIDENCE",
    "INTERVAL_COLUMNS",
    "LEVEL",
    "LOW_EVIDENCE_SAMPLES",
    "add_intervals",
    "adjust",
    "change_test",
    "evidence",
    "gamma_quantile",
    "merge_evidence",
    "miss_probability",
    "relative_error",
    "volume_interval",
    "with_intervals",
]

#: confidence level of every interval
LEVEL = 0.95
#: groups with fewer sampled packets than this are flagged ``low_evidence``
#: (their relative error at 95 % exceeds 196/sqrt(10) = 62 %)
LOW_EVIDENCE_SAMPLES = 10
#: the interval columns :func:`with_intervals` adds
INTERVAL_COLUMNS = ("bytes_lo", "bytes_hi", "packets_lo", "packets_hi", "samples", "low_evidence")
_MAX = ("_ev_n", "_ev_bw")

_F = TypeVar("_F", pl.DataFrame, pl.LazyFrame)


def evidence(
    bytes: str = "bytes", packets: str = "packets", sampling_rate: str = "sampling_rate"
) -> list[pl.Expr]:
    """Aggregations (for ``group_by(...).agg``) that collect a group's evidence.

    ``samples`` (UInt64) is the number of packets actually observed (a sampled
    record is one, an unsampled record counts its packets); the ``_ev_*``
    columns are sums and maxima over the sampled records (N > 1), the exact
    volumes of the unsampled ones (``_ev_xp``, ``_ev_xb``) and the count of
    records without a sampling rate (``_ev_u``), mergeable by :func:`merge_evidence`.
    Volumes are read from the canonical columns (``bytes`` = frame length x N,
    ``packets`` = N for a packet sample); name others with the arguments.
    """
    n = pl.col(sampling_rate).cast(pl.Float64)
    p = pl.col(packets).cast(pl.Float64)
    b = pl.col(bytes).cast(pl.Float64)
    sampled = n > 1

    def over_sampled(x: pl.Expr) -> pl.Expr:
        return pl.when(sampled).then(x).otherwise(0.0)

    return [
        pl.when(n > 0).then(p / n).otherwise(0.0).sum().round(0).cast(pl.UInt64).alias("samples"),
        over_sampled(p / n).sum().alias("_ev_s"),
        over_sampled(p).sum().alias("_ev_p"),
        over_sampled((n - 1) * p).sum().alias("_ev_pv"),
        over_sampled(n).max().fill_null(0.0).alias("_ev_n"),
        over_sampled(b).sum().alias("_ev_b"),
        over_sampled((n - 1) / n * b * b).sum().alias("_ev_bv"),
        over_sampled(b).max().fill_null(0.0).alias("_ev_bw"),
        pl.when(n == 1).then(p).otherwise(0.0).sum().alias("_ev_xp"),
        pl.when(n == 1).then(b).otherwise(0.0).sum().alias("_ev_xb"),
        (n.is_null() | (n <= 0)).sum().cast(pl.UInt64).alias("_ev_u"),
    ]


#: the private evidence columns :func:`evidence` makes and :func:`with_intervals` consumes
EVIDENCE: tuple[str, ...] = tuple(e.meta.output_name() for e in evidence())


def merge_evidence() -> list[pl.Expr]:
    """Aggregations that merge evidence columns of finer groups (sums; maxima for the weights)."""
    return [pl.col(c).max() if c in _MAX else pl.col(c).sum() for c in EVIDENCE]


# --- the gamma quantile (numpy only) -------------------------------------------------

_LANCZOS = (
    0.99999999999980993,
    676.5203681218851,
    -1259.1392167224028,
    771.32342877765313,
    -176.61502916214059,
    12.507343278686905,
    -0.13857109526572012,
    9.9843695780195716e-6,
    1.5056327351493116e-7,
)


def _lgamma(a: np.ndarray) -> np.ndarray:
    """log Gamma(a) for a > 0 (Lanczos, g = 7: ~15 significant digits)."""
    small = a < 0.5
    z = np.where(small, 1.0 - a, a) - 1.0
    s = np.full_like(z, _LANCZOS[0])
    for i, c in enumerate(_LANCZOS[1:], start=1):
        s = s + c / (z + i)
    t = z + 7.5
    lg = 0.5 * math.log(2 * math.pi) + (z + 0.5) * np.log(t) - t + np.log(s)
    with np.errstate(divide="ignore", invalid="ignore"):
        reflected = math.log(math.pi) - np.log(np.abs(np.sin(math.pi * a))) - lg
    return np.where(small, reflected, lg)


def _gammp(a: np.ndarray, x: np.ndarray, lga: np.ndarray) -> np.ndarray:
    """Regularized lower incomplete gamma P(a, x): series below a + 1, continued fraction above."""
    x = np.maximum(x, 1e-300)
    front = np.exp(-x + a * np.log(x) - lga)
    out = np.empty_like(x)
    low = x < a + 1.0
    if low.any():
        out[low] = _series(a[low], x[low]) * front[low]
    if (~low).any():
        out[~low] = 1.0 - front[~low] * _fraction(a[~low], x[~low])
    return np.clip(out, 0.0, 1.0)


def _series(a: np.ndarray, x: np.ndarray) -> np.ndarray:
    term = 1.0 / a
    total = term.copy()
    ap = a.copy()
    for _ in range(5000):
        ap = ap + 1.0
        term = term * x / ap
        total = total + term
        if np.all(term < total * 1e-15):
            break
    return total


def _fraction(a: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Continued fraction of Q(a, x) / front (modified Lentz)."""
    tiny = 1e-300
    bb = x + 1.0 - a
    c = np.full_like(x, 1.0 / tiny)
    d = 1.0 / np.where(np.abs(bb) < tiny, tiny, bb)
    h = d.copy()
    for i in range(1, 5000):
        an = -i * (i - a)
        bb = bb + 2.0
        d = an * d + bb
        d = np.where(np.abs(d) < tiny, tiny, d)
        c = bb + an / c
        c = np.where(np.abs(c) < tiny, tiny, c)
        d = 1.0 / d
        delta = d * c
        h = h * delta
        if np.all(np.abs(delta - 1.0) < 1e-15):
            break
    return h


def _wilson_hilferty(q: np.ndarray, a: np.ndarray) -> np.ndarray:
    z = _norm_ppf(q)
    return a * (1.0 - 1.0 / (9.0 * a) + z / (3.0 * np.sqrt(a))) ** 3


def _norm_ppf(q: np.ndarray) -> np.ndarray:
    """Standard normal quantile (Acklam's rational approximation, refined by one Halley step)."""
    a = (
        -39.69683028665376,
        220.9460984245205,
        -275.9285104469687,
        138.3577518672690,
        -30.66479806614716,
        2.506628274631000,
    )
    b = (-54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972)
    b5 = -13.28068155288572
    c = (
        -7.784894002430293e-03,
        -0.3223964580411365,
        -2.400758277161838,
        -2.549732539343734,
        4.374664141464968,
        2.938163982698783,
    )
    d = (7.784695709041462e-03, 0.3224671290700398, 2.445134137142996, 3.754408661907416)
    q = np.clip(np.asarray(q, dtype=float), 1e-300, 1 - 1e-16)
    low = q < 0.02425
    high = q > 1 - 0.02425
    r = np.sqrt(-2 * np.log(np.where(low, q, np.where(high, 1 - q, 0.5))))
    tail = (((((c[0] * r + c[1]) * r + c[2]) * r + c[3]) * r + c[4]) * r + c[5]) / (
        (((d[0] * r + d[1]) * r + d[2]) * r + d[3]) * r + 1
    )
    u = q - 0.5
    s = u * u
    mid = (
        (((((a[0] * s + a[1]) * s + a[2]) * s + a[3]) * s + a[4]) * s + a[5])
        * u
        / (((((b[0] * s + b[1]) * s + b[2]) * s + b[3]) * s + b5) * s + 1)
    )
    x = np.where(low, tail, np.where(high, -tail, mid))
    e = 0.5 * np.vectorize(math.erfc)(-x / math.sqrt(2)) - q
    g = e * math.sqrt(2 * math.pi) * np.exp(x * x / 2)
    return np.asarray(x - g / (1 + x * g / 2))


_EXACT_BELOW = 400.0


def gamma_quantile(q: float, shape: np.ndarray, scale: np.ndarray | float = 1.0) -> np.ndarray:
    """Quantile `q` of the gamma distribution (numpy only; 0 where ``shape`` is 0).

    Shapes below 400 invert the regularized incomplete gamma function (Halley
    steps from the Numerical Recipes starting point), larger ones use the
    Wilson-Hilferty cube, within 1e-5 (relative) there.

    Examples
    --------
    >>> import numpy as np
    >>> [round(float(x), 4) for x in gamma_quantile(0.975, np.array([1.0, 2.0, 10.0]))]
    [3.6889, 5.5716, 17.0848]
    """
    a = np.asarray(shape, dtype=float)
    out = np.zeros_like(a)
    pos = a > 0
    big = pos & (a >= _EXACT_BELOW)
    if big.any():
        out[big] = _wilson_hilferty(np.full(big.sum(), q), a[big])
    small = pos & ~big
    if small.any():
        uniq, inverse = np.unique(a[small], return_inverse=True)
        out[small] = _invgammp(q, uniq)[inverse]
    return out * np.asarray(scale, dtype=float)


def _invgammp(p: float, a: np.ndarray) -> np.ndarray:
    lga = _lgamma(a)
    # starting point (Numerical Recipes 3rd ed., 6.2.1)
    pp = p if p < 0.5 else 1.0 - p
    t = math.sqrt(-2.0 * math.log(pp))
    z = (2.30753 + t * 0.27061) / (1.0 + t * (0.99229 + t * 0.04481)) - t
    if p < 0.5:
        z = -z
    with np.errstate(invalid="ignore", divide="ignore"):
        big = np.maximum(1e-3, a * (1.0 - 1.0 / (9.0 * a) - z / (3.0 * np.sqrt(a))) ** 3)
        tt = 1.0 - a * (0.253 + a * 0.12)
        small = np.where(p < tt, (p / tt) ** (1.0 / a), 1.0 - np.log(1.0 - (p - tt) / (1.0 - tt)))
    x = np.where(a > 1.0, big, small)
    a1 = a - 1.0
    lna1 = np.log(np.where(a > 1.0, a1, 1.0))
    afac = np.exp(a1 * (lna1 - 1.0) - lga)
    for _ in range(30):
        err = _gammp(a, x, lga) - p
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
            tpdf = np.where(
                a > 1.0,
                afac * np.exp(-(x - a1) + a1 * (np.log(x) - lna1)),
                np.exp(-x + a1 * np.log(x) - lga),
            )
            step = err / tpdf
            step = step / (1.0 - 0.5 * np.minimum(1.0, step * (a1 / x - 1.0)))
        step = np.where(np.isfinite(step), step, 0.0)
        x_new = x - step
        x = np.where(x_new <= 0.0, 0.5 * x, x_new)
        if np.all(np.abs(step) < 1e-12 * x):
            break
    return x


# --- intervals ------------------------------------------------------------------------


def volume_interval(
    estimate: np.ndarray | float,
    variance: np.ndarray | float,
    weight: np.ndarray | float,
    weight_variance: np.ndarray | float,
    *,
    samples: np.ndarray | float | None = None,
    level: float = LEVEL,
) -> tuple[Any, Any]:
    """The gamma interval (Fay & Feuer 1997) of a sampled volume.

    Parameters
    ----------
    estimate : float or array
        The estimated volume from sampled records (the random part only).
    variance : float or array
        Its estimated variance (sum over the samples).
    weight, weight_variance : float or array
        What one sample adds to the estimate and to its variance (the largest
        one in the group).
    samples : float or array, optional
        The number of samples. From :data:`LOW_EVIDENCE_SAMPLES` on, the
        interval is the Jeffreys one (half a sample added to both bounds:
        coverage close to nominal); below, and when not given, the exact one
        (one sample added to the upper bound only: coverage at least nominal).
    level : float
        Confidence level.

    Returns
    -------
    (lo, hi) : floats, or arrays of float
        ``lo = hi = 0`` when ``estimate`` is 0. With one sampling rate N and c
        samples (estimate N c, variance (N-1) N c, weight N, weight variance
        (N-1) N) the exact form is the exact Poisson (Garwood) interval of c,
        scaled by N and narrowed by the binomial factor (N-1)/N.

    Examples
    --------
    >>> lo, hi = volume_interval(1000.0, 1000.0 * 999, 1000.0, 999.0 * 1000)  # 1 sample, 1-in-1000
    >>> round(lo), round(hi)
    (25, 5570)
    """
    scalar = np.ndim(estimate) == 0
    y = np.atleast_1d(np.asarray(estimate, float))
    v = np.broadcast_to(np.asarray(variance, float), y.shape)
    w = np.broadcast_to(np.asarray(weight, float), y.shape)
    wv = np.broadcast_to(np.asarray(weight_variance, float), y.shape)
    c = (
        np.zeros(y.shape)
        if samples is None
        else np.broadcast_to(np.asarray(samples, float), y.shape)
    )
    shift = np.where(c >= LOW_EVIDENCE_SAMPLES, 0.5, 0.0)
    alpha = 1.0 - level
    bounds = []
    for q, k in ((alpha / 2, shift), (1 - alpha / 2, 1.0 - shift)):
        yk, vk = y + k * w, v + k * wv
        with np.errstate(divide="ignore", invalid="ignore"):
            ok = (y > 0) & (yk > 0) & (vk > 0)
            shape = np.where(ok, yk * yk / vk, 0.0)
            scale = np.where(ok, vk / yk, 0.0)
        bounds.append(np.where(ok, gamma_quantile(q, shape, scale), y))
    lo, hi = bounds
    if scalar:
        return float(lo[0]), float(hi[0])
    return lo, hi


def _bounds(batch: pl.Series, level: float) -> pl.Series:
    s = batch.struct
    get = lambda name: s.field(name).cast(pl.Float64).fill_null(0.0).to_numpy()  # noqa: E731
    n = get("_ev_n")
    bw = get("_ev_bw")
    c = get("_ev_s")
    p_lo, p_hi = volume_interval(
        get("_ev_p"), get("_ev_pv"), n, (n - 1) * n, samples=c, level=level
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = np.where(n > 0, (n - 1) / n, 0.0)
    b_lo, b_hi = volume_interval(
        get("_ev_b"), get("_ev_bv"), bw, frac * bw * bw, samples=c, level=level
    )
    return pl.DataFrame({"_p_lo": p_lo, "_p_hi": p_hi, "_b_lo": b_lo, "_b_hi": b_hi}).to_struct(
        "_bounds"
    )


def with_intervals(frame: _F, *, level: float = LEVEL, keep_evidence: bool = False) -> _F:
    """Turn evidence columns (:func:`evidence`) into interval columns.

    Adds ``bytes_lo, bytes_hi, packets_lo, packets_hi`` (UInt64: the random
    part's bounds, rounded outwards, plus the exact part) and
    ``low_evidence`` (Boolean: fewer than :data:`LOW_EVIDENCE_SAMPLES` sampled
    packets), keeps ``samples`` and drops the private ``_ev_*`` columns unless
    `keep_evidence`.
    """
    bounds = pl.struct(*EVIDENCE[1:]).map_batches(
        lambda s: _bounds(s, level),
        return_dtype=pl.Struct({k: pl.Float64 for k in ("_p_lo", "_p_hi", "_b_lo", "_b_hi")}),
        is_elementwise=True,
    )
    unknown = pl.col("_ev_u") > 0
    out = []
    for metric, short in (("bytes", "_b"), ("packets", "_p")):
        exact = pl.col(f"_ev_x{short[1]}")
        for side, rnd in (("lo", "floor"), ("hi", "ceil")):
            value = getattr(exact + pl.col("_bounds").struct.field(f"{short}_{side}"), rnd)()
            out.append(
                pl.when(unknown)
                .then(None)
                .otherwise(value.clip(0))
                .cast(pl.UInt64)
                .alias(f"{metric}_{side}")
            )
    low = (pl.col("_ev_s") > 0) & (pl.col("_ev_s") < LOW_EVIDENCE_SAMPLES)
    result = frame.with_columns(bounds.alias("_bounds")).with_columns(
        *out, pl.when(unknown).then(None).otherwise(low).alias("low_evidence")
    )
    drop = ["_bounds"] + ([] if keep_evidence else [c for c in EVIDENCE if c != "samples"])
    return result.drop(drop).select(pl.exclude(INTERVAL_COLUMNS), *INTERVAL_COLUMNS)


def add_intervals(
    flows: pl.DataFrame | pl.LazyFrame,
    by: str | Sequence[str],
    *,
    level: float = LEVEL,
) -> pl.DataFrame:
    """Group canonical flows by `by` and estimate their volumes with 95 % intervals.

    Columns: `by`, ``bytes, packets, flows, bytes_lo, bytes_hi, packets_lo,
    packets_hi, samples, low_evidence``; sorted by bytes (largest first), then `by`.
    The one-call form of :func:`evidence` + :func:`with_intervals`, e.g. for a
    policy rule's evidence: ``add_intervals(flows, ["client_ip", "server_ip",
    "service_port"])``.
    """
    keys = [by] if isinstance(by, str) else list(by)
    grouped = (
        flows.lazy()
        .group_by(keys)
        .agg(
            pl.col("bytes").sum().cast(pl.UInt64),
            pl.col("packets").sum().cast(pl.UInt64),
            pl.len().cast(pl.UInt64).alias("flows"),
            *evidence(),
        )
    )
    out = with_intervals(grouped, level=level).select(
        *keys, "bytes", "packets", "flows", *INTERVAL_COLUMNS
    )
    desc = [True] + [False] * len(keys)
    return out.sort(["bytes", *keys], descending=desc, nulls_last=True).collect()


def relative_error(samples: float, *, level: float = LEVEL) -> float:
    """The sFlow rule of thumb: relative error bound z·sqrt(1/c) at `level` (0.98 for c = 4).

    Examples
    --------
    >>> round(relative_error(384), 3)
    0.1
    """
    z = float(_norm_ppf(np.array([0.5 + level / 2]))[0])
    return z * math.sqrt(1.0 / samples) if samples > 0 else math.inf


def miss_probability(
    rate_pps: float | np.ndarray | pl.Expr,
    window_s: float | np.ndarray | pl.Expr,
    sampling_rate: float | np.ndarray | pl.Expr,
) -> float | np.ndarray | pl.Expr:
    """Probability that a conversation of `rate_pps` packets/s for `window_s` left no sample.

    Every packet escapes a 1-in-N sampler with probability 1 - 1/N, so a
    conversation of rate x window packets goes unseen with probability
    (1 - 1/N) ** packets. Works on numbers, numpy arrays and Polars
    expressions.

    Examples
    --------
    >>> round(miss_probability(1.0, 300, 400), 3)  # 1 packet/s for 5 minutes at 1-in-400
    0.472
    >>> miss_probability(1.0, 300, 1)
    0.0
    """
    if any(isinstance(x, pl.Expr) for x in (rate_pps, window_s, sampling_rate)):
        r, w, n = (
            x if isinstance(x, pl.Expr) else pl.lit(x) for x in (rate_pps, window_s, sampling_rate)
        )
        n = n.cast(pl.Float64)
        return (1.0 - 1.0 / n).pow(r.cast(pl.Float64) * w.cast(pl.Float64))
    n_arr = np.asarray(sampling_rate, dtype=float)
    out = (1.0 - 1.0 / n_arr) ** (np.asarray(rate_pps, float) * np.asarray(window_s, float))
    return float(out) if np.ndim(out) == 0 else out


# --- is a difference beyond the noise ---------------------------------------------------


def _binom_two_sided(k: int, n: int, p0: float) -> float:
    """Exact two-sided binomial p-value: twice the smaller tail, at most 1."""
    if n == 0:
        return 1.0
    if n > 5000:  # normal approximation with continuity correction
        sd = math.sqrt(n * p0 * (1 - p0))
        z = (abs(k - n * p0) - 0.5) / sd if sd > 0 else math.inf
        return min(1.0, math.erfc(max(z, 0.0) / math.sqrt(2)))
    j = np.arange(n + 1, dtype=float)
    logpmf = (
        _lgamma(np.array([n + 1.0]))[0]
        - _lgamma(j + 1)
        - _lgamma(n - j + 1)
        + j * math.log(p0)
        + (n - j) * math.log1p(-p0)
    )
    pmf = np.exp(logpmf)
    low, high = pmf[: k + 1].sum(), pmf[k:].sum()
    return float(min(1.0, 2 * min(low, high)))


def change_test(
    estimate_a: np.ndarray,
    variance_a: np.ndarray,
    estimate_b: np.ndarray,
    variance_b: np.ndarray,
    *,
    share_b: float = 0.5,
) -> tuple[np.ndarray, np.ndarray]:
    """z and two-sided p-value of "the volumes of a and b differ beyond sampling noise".

    Under the null hypothesis the same rate produced both (window b holding
    `share_b` of the total time). The two estimates are turned into
    effective sample counts with their pooled dispersion (variance/estimate:
    N - 1 for packets at 1-in-N, more for bytes of varied frame sizes), and
    the count of b given the total is tested exactly against
    Binomial(total, `share_b`) (the conditional test of two Poisson counts).
    A volume absent from a window has estimate and variance 0. Two exact
    (unsampled) volumes differ with p = 0 unless equal.

    Examples
    --------
    >>> z, p = change_test(np.array([0.0, 4000.0]), np.array([0.0, 4000.0 * 999]),
    ...                    np.array([4000.0, 12000.0]), np.array([4000.0 * 999, 12000.0 * 999]))
    >>> [round(float(x), 3) for x in p]  # 4 samples in b only; 4 then 12 (1-in-1000)
    [0.125, 0.077]
    """
    ya, va = np.asarray(estimate_a, float), np.asarray(variance_a, float)
    yb, vb = np.asarray(estimate_b, float), np.asarray(variance_b, float)
    z = np.zeros(ya.shape)
    p = np.ones(ya.shape)
    for i in range(ya.size):
        total, var = ya[i] + yb[i], va[i] + vb[i]
        if total <= 0:
            continue
        if var <= 0:
            differ = not math.isclose(yb[i] * (1 - share_b), ya[i] * share_b)
            p[i] = 0.0 if differ else 1.0
            z[i] = math.copysign(math.inf, yb[i] - total * share_b) if differ else 0.0
            continue
        phi = var / total
        n = round(total / phi)
        k = min(n, round(yb[i] / phi))
        sd = math.sqrt(n * share_b * (1 - share_b))
        z[i] = (k - n * share_b) / sd if sd > 0 else 0.0
        p[i] = _binom_two_sided(k, n, share_b)
    return z, p


def adjust(p_values: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg q-values: report the p-values with q <= alpha to keep the
    false discoveries at alpha (and, when nothing changed, the chance of any at alpha).

    Examples
    --------
    >>> [round(float(q), 3) for q in adjust(np.array([0.01, 0.04, 0.03, 0.5]))]
    [0.04, 0.053, 0.053, 0.5]
    """
    p = np.asarray(p_values, float)
    m = p.size
    if m == 0:
        return p
    order = np.argsort(p)
    ranked = p[order] * m / np.arange(1, m + 1)
    q = np.minimum.accumulate(ranked[::-1])[::-1]
    out = np.empty(m)
    out[order] = np.minimum(q, 1.0)
    return out
