"""The infarct prior of the inverse fit, and random infarcts drawn from it.

One infarct of the prior is an ellipsoid of Eq. (1) centred on the endocardium (tm0 = 1) with five
continuous parameters, drawn uniformly in a box (:class:`EllipsoidPrior`): the centre anywhere in the LV
region from apex to base (``ab0``; ``rt0`` all around, the septum included), the transmural extent
``r_tm`` (r_tm >= 1 reaches the epicardium: transmural) and the radii ``r_ab`` and ``r_rt``. The border zone
is the scar ellipsoid grown by :data:`mitwin.ellipsoid.BZ_MARGIN`.

:func:`random_infarcts` draws benchmark and training infarcts from the same box, optionally with an
irregular boundary (the ellipsoid's level set perturbed by a smooth random field in Cobiveco coordinates,
thresholded) or as two separate infarcts. Every sample is deterministic from (seed, subject, k) and keeps its
parameters as plain data (:meth:`RandomInfarct.to_dict`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..anatomy.aha import lv_region
from ..ellipsoid import BORDER_ZONE, BZ_MARGIN, SCAR, Infarct
from ..scenario_records import ScenarioRecord
from ..tissue import Tissue, get_tissue

log = logging.getLogger(__name__)

__all__ = ["DEFAULT_PRIOR", "KINDS", "EllipsoidPrior", "RandomInfarct", "random_infarcts", "random_scenarios"]

#: Kinds of random infarct.
KINDS: tuple[str, ...] = ("ellipsoid", "irregular", "double")


@dataclass(frozen=True)
class EllipsoidPrior:
    """A uniform box over the five parameters of an endocardial ellipsoid infarct.

    Parameters
    ----------
    low, high : (5,) float
        Bounds of (ab0, rt0, r_tm, r_ab, r_rt) in Cobiveco units; rt0 is periodic and should span [0, 1).
    """

    low: tuple[float, ...] = (0.05, 0.0, 0.3, 0.1, 0.06)
    high: tuple[float, ...] = (0.9, 1.0, 1.5, 0.4, 0.2)

    #: Parameter names, in order.
    names: tuple[str, ...] = ("ab0", "rt0", "r_tm", "r_ab", "r_rt")

    def __post_init__(self) -> None:
        lo, hi = np.asarray(self.low, dtype=float), np.asarray(self.high, dtype=float)
        if lo.shape != (5,) or hi.shape != (5,) or not np.all(np.isfinite(lo)) or not np.all(np.isfinite(hi)):
            raise ValueError(f"low, high: expected 5 finite bounds each, got {self.low!r} and {self.high!r}")
        if np.any(hi <= lo) or np.any(lo[2:] <= 0):
            raise ValueError(f"low, high: expected low < high and radii > 0, got {self.low!r} and {self.high!r}")

    @property
    def dim(self) -> int:
        return 5

    @property
    def periodic(self) -> np.ndarray:
        """(5,) bool: which unit-cube coordinates wrap around (rt0)."""
        return np.array([False, True, False, False, False])

    def params(self, u: np.ndarray) -> np.ndarray:
        """Map unit-cube points (K, 5) to parameters (K, 5) (ab0, rt0, r_tm, r_ab, r_rt)."""
        u = np.atleast_2d(np.asarray(u, dtype=float))
        if u.shape[-1] != 5:
            raise ValueError(f"u: expected shape (K, 5), got {u.shape}")
        lo, hi = np.asarray(self.low), np.asarray(self.high)
        p = lo + u * (hi - lo)
        p[:, 1] = np.mod(p[:, 1], 1.0)
        return p

    def unit(self, params: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`params`."""
        p = np.atleast_2d(np.asarray(params, dtype=float))
        lo, hi = np.asarray(self.low), np.asarray(self.high)
        return (p - lo) / (hi - lo)

    def infarct(self, params: Sequence[float], tissue: str | Tissue = "paper", name: str = "infarct") -> Infarct:
        """The :class:`Infarct` of one parameter vector (ab0, rt0, r_tm, r_ab, r_rt)."""
        ab0, rt0, r_tm, r_ab, r_rt = (float(x) for x in params)
        t = get_tissue(tissue)
        return Infarct(centre=(1.0, ab0, rt0 % 1.0), radii=(r_tm, r_ab, r_rt), scar_factor=t.scar_factor,
                       bz_factor=t.bz_factor, name=name)

    def labels(self, params: np.ndarray, tm: np.ndarray, ab: np.ndarray, rt: np.ndarray,
               tv: np.ndarray) -> np.ndarray:
        """(K, N) int8 labels of K parameter vectors (K, 5) on nodes with coordinates (N,) (vectorised Eq. 1)."""
        p = np.atleast_2d(np.asarray(params, dtype=float))
        lv = lv_region(tv, rt)
        out = np.zeros((p.shape[0], tm.shape[0]), dtype=np.int8)
        margin = np.asarray(BZ_MARGIN)
        for k, (ab0, rt0, r_tm, r_ab, r_rt) in enumerate(p):
            radii = np.array([r_tm, r_ab, r_rt])
            out[k] = _labels_from_level(_level(tm, ab, rt, (1.0, ab0, rt0), radii),
                                        _level(tm, ab, rt, (1.0, ab0, rt0), radii + margin), lv)
        return out


#: The prior of :func:`mitwin.fit_infarct` and of :func:`random_infarcts`.
DEFAULT_PRIOR = EllipsoidPrior()


def _level(tm: np.ndarray, ab: np.ndarray, rt: np.ndarray, centre: Sequence[float], radii: Any) -> np.ndarray:
    """Left-hand side of Eq. (1): <= 1 inside the ellipsoid."""
    drt = np.mod(rt - centre[2] + 0.5, 1.0) - 0.5
    return ((tm - centre[0]) / radii[0]) ** 2 + ((ab - centre[1]) / radii[1]) ** 2 + (drt / radii[2]) ** 2


def _labels_from_level(scar_level: np.ndarray, bz_level: np.ndarray, lv: np.ndarray) -> np.ndarray:
    out = np.zeros(scar_level.shape, dtype=np.int8)
    out[lv & (bz_level <= 1.0)] = BORDER_ZONE
    out[lv & (scar_level <= 1.0)] = SCAR
    return out


def _noise(modes: Sequence[Sequence[float]], tm: np.ndarray, ab: np.ndarray, rt: np.ndarray) -> np.ndarray:
    """A smooth random field in (tm, ab, rt), periodic in rt, of unit variance: a sum of cosine modes
    (k_tm, k_ab, k_rt, phase, weight)."""
    total = np.zeros_like(tm, dtype=float)
    norm = 0.0
    for k_tm, k_ab, k_rt, phase, weight in modes:
        total += weight * np.cos(2 * np.pi * (k_tm * tm + k_ab * ab + k_rt * rt) + phase)
        norm += weight ** 2 / 2
    return total / np.sqrt(norm) if norm > 0 else total


@dataclass(frozen=True)
class RandomInfarct:
    """One random infarct, recorded as data.

    Attributes
    ----------
    seed, subject, k : int
        The triple it is drawn from.
    kind : {"ellipsoid", "irregular", "double"}
    infarcts : tuple of Infarct
        One ellipsoid (two for ``"double"``).
    noise : tuple of (k_tm, k_ab, k_rt, phase, weight) tuples
        Modes of the boundary perturbation (``"irregular"`` only, else empty).
    roughness : float
        Amplitude of the perturbation of the level set (0 for regular shapes).
    tissue : str
        Tissue preset of the speed factors.
    """

    seed: int
    subject: int
    k: int
    kind: str
    infarcts: tuple[Infarct, ...]
    noise: tuple[tuple[float, ...], ...] = ()
    roughness: float = 0.0
    tissue: str = "paper"

    @property
    def name(self) -> str:
        return f"random_{self.seed}_{self.subject}_{self.k}"

    @property
    def params(self) -> np.ndarray:
        """(5,) parameters (ab0, rt0, r_tm, r_ab, r_rt) of the first ellipsoid."""
        inf = self.infarcts[0]
        return np.array([inf.centre[1], inf.centre[2], *inf.radii])

    @property
    def transmural(self) -> bool:
        """True when every ellipsoid reaches the epicardium (r_tm >= 1 with tm0 = 1)."""
        return all(inf.radii[0] >= 1.0 for inf in self.infarcts)

    def labels(self, tm: Any, ab: Any, rt: Any, tv: Any) -> np.ndarray:
        """(N,) int8 labels (0 healthy, 1 BZ, 2 scar) on nodes with Cobiveco coordinates (N,)."""
        tm, ab, rt, tv = (np.asarray(a, dtype=float) for a in (tm, ab, rt, tv))
        lv = lv_region(tv, rt)
        field = np.exp(self.roughness * _noise(self.noise, tm, ab, rt)) if self.noise else 1.0
        out = np.zeros(tm.shape, dtype=np.int8)
        for inf in self.infarcts:
            lab = _labels_from_level(_level(tm, ab, rt, inf.centre, inf.radii) * field,
                                     _level(tm, ab, rt, inf.centre, inf.bz_radii) * field, lv)
            out = np.maximum(out, lab)
        return out

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data (the inverse of :meth:`from_dict`)."""
        return {"seed": self.seed, "subject": self.subject, "k": self.k, "kind": self.kind,
                "infarcts": [inf.to_dict() for inf in self.infarcts], "noise": [list(m) for m in self.noise],
                "roughness": self.roughness, "tissue": self.tissue}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RandomInfarct:
        try:
            return cls(int(data["seed"]), int(data["subject"]), int(data["k"]), str(data["kind"]),
                       tuple(Infarct.from_dict(d) for d in data["infarcts"]),
                       tuple(tuple(float(x) for x in m) for m in data.get("noise", ())),
                       float(data.get("roughness", 0.0)), str(data.get("tissue", "paper")))
        except (KeyError, TypeError) as exc:
            raise ValueError(f"data: not a random-infarct record ({exc})") from exc


def _draw(rng: np.random.Generator, prior: EllipsoidPrior, kind: str, tissue: Tissue, name: str,
          seed: int, subject: int, k: int, roughness: float) -> RandomInfarct:
    n_inf = 2 if kind == "double" else 1
    infs: list[Infarct] = []
    for j in range(n_inf):
        u = rng.random(5)
        if j == 1:  # the second infarct: smaller, centred at least 0.25 turn away in rt
            u[3:] *= 0.6
            u[1] = (infs[0].centre[2] + 0.25 + 0.5 * rng.random()) % 1.0
        infs.append(prior.infarct(prior.params(u)[0], tissue, name=f"{name}_{j}" if n_inf > 1 else name))
    noise: tuple[tuple[float, ...], ...] = ()
    if kind == "irregular":
        noise = tuple((float(rng.uniform(0.0, 1.0)), float(rng.uniform(1.0, 3.0)), float(rng.integers(2, 7)),
                       float(rng.uniform(0, 2 * np.pi)), float(rng.uniform(0.5, 1.0))) for _ in range(6))
    return RandomInfarct(seed, subject, k, kind, tuple(infs), noise, roughness if noise else 0.0, tissue.name)


def random_infarcts(n: int, *, seed: int = 0, subject: int = 0, start: int = 0, heart: Any = None,
                    tissue: str | Tissue = "paper", irregular: float = 0.0, double: float = 0.0,
                    prior: EllipsoidPrior = DEFAULT_PRIOR, roughness: float = 0.6,
                    min_scar_nodes: int = 5) -> list[RandomInfarct]:
    """Random infarcts drawn from the prior: sample k is a function of (seed, subject, k) alone.

    Parameters
    ----------
    n : int
        How many, with k = start .. start + n - 1.
    seed, subject, start : int
        The random stream of sample k is ``numpy.random.default_rng([seed, subject, k])``.
    heart : Heart, optional
        When given, a draw with fewer than ``min_scar_nodes`` scar nodes on it is redrawn (from the same
        stream, so still deterministic).
    tissue : str or Tissue
        Tissue preset (speed factors of scar and BZ).
    irregular, double : float in [0, 1]
        Probabilities of an irregular boundary and of two infarcts (the rest: one ellipsoid).
    prior : EllipsoidPrior
        Box of the ellipsoid parameters.
    roughness : float
        Amplitude of the boundary perturbation of irregular infarcts (the level set is multiplied by
        ``exp(roughness * field)``, field of unit variance).
    min_scar_nodes : int

    Returns
    -------
    list of RandomInfarct

    Examples
    --------
    >>> a = random_infarcts(3, seed=1, subject=2)
    >>> b = random_infarcts(1, seed=1, subject=2, start=2)
    >>> a[2] == b[0], a[0].kind
    (True, 'ellipsoid')
    """
    for name, value in (("n", n), ("seed", seed), ("subject", subject), ("start", start)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 0:
            raise ValueError(f"{name}: expected an integer >= 0, got {value!r}")
    for name, p in (("irregular", irregular), ("double", double)):
        if not 0.0 <= float(p) <= 1.0:
            raise ValueError(f"{name}: expected a probability in [0, 1], got {p!r}")
    if float(irregular) + float(double) > 1.0:
        raise ValueError(f"irregular, double: expected a sum <= 1, got {irregular} + {double}")
    if not np.isfinite(roughness) or roughness < 0:
        raise ValueError(f"roughness: expected a finite value >= 0, got {roughness!r}")
    t = get_tissue(tissue)
    out = []
    for k in range(start, start + n):
        rng = np.random.default_rng([seed, subject, k])
        c = rng.random()
        kind = "irregular" if c < irregular else ("double" if c < irregular + double else "ellipsoid")
        for _attempt in range(100):
            sample = _draw(rng, prior, kind, t, f"random_{seed}_{subject}_{k}", seed, subject, k, roughness)
            if heart is None or np.count_nonzero(sample.labels(heart.tm, heart.ab, heart.rt, heart.tv) == SCAR) \
                    >= min_scar_nodes:
                break
        else:
            raise ValueError(f"heart: no draw of sample {k} with >= {min_scar_nodes} scar nodes in 100 tries")
        out.append(sample)
    return out


def random_scenarios(n: int, *, seed: int = 0, tissue: str | Tissue = "paper", heart: Any = None,
                     prior: EllipsoidPrior = DEFAULT_PRIOR) -> list[ScenarioRecord]:
    """``n`` random ellipsoid infarcts as scenario records (``mitwin simulate --random N``).

    The records are drawn with ``subject = 0`` and hold the same infarcts (in Cobiveco coordinates) for every
    subject of a campaign; ``location`` is ``"random"`` and ``params`` holds seed, subject, k and the five
    ellipsoid parameters. With ``heart``, draws with fewer than 5 scar nodes on it are redrawn.

    Examples
    --------
    >>> r = random_scenarios(2, seed=3)
    >>> r[0].name, r[0].location, sorted(r[0].params)[:3]
    ('random_3_0_0', 'random', ['ab0', 'k', 'r_ab'])
    """
    out = []
    for s in random_infarcts(n, seed=seed, subject=0, heart=heart, tissue=tissue, prior=prior):
        params = {"seed": float(s.seed), "subject": float(s.subject), "k": float(s.k),
                  **dict(zip(prior.names, map(float, s.params)))}
        out.append(ScenarioRecord(s.name, s.infarcts[0], location="random", params=params))
    return out
