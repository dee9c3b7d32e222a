"""The forward model: a heart and an infarct -> activation times, labels and the 8-lead QRS.

:func:`prepare` sets up, once per heart, the conduction system
(:mod:`mitwin.ep.conduction`: fast endocardial layer, seven root nodes, Purkinje delays), the
activation solver and the lead field; the returned :class:`Forward` then simulates any number
of infarcts, one at a time or as a batch that the C++ solver runs in parallel. :func:`simulate`
is the one-call form.

Healthy speeds (paper Sec. IV-A.1): 0.65 m/s along the fibres, 0.48 along
the sheets, 0.51 along the sheet normals. In scar and border zone every speed, the fast
endocardial layer's included, is scaled by the infarct's speed factors.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..infarct import Infarct
from .activation import DEFAULT_SPEEDS, ActivationSolver
from .conduction import DEFAULT_PARAMS, Conduction, ConductionParams, conduction_system
from .ecg import ECG, ECGBatch
from .heartlike import HeartLike
from .leadfield import LeadField, QRSOptions, qrs_length

log = logging.getLogger(__name__)

__all__ = ["DEFAULT_SPEEDS", "Forward", "Simulation", "prepare", "simulate"]


@dataclass(frozen=True)
class Simulation:
    """The result of one forward simulation.

    Attributes
    ----------
    at : (N,) float64
        Activation time of each node, ms (the earliest root starts at 0).
    labels : (N,) int8
        0 healthy, 1 border zone, 2 scar.
    qrs : ECG
        8-lead QRS (I, II, V1..V6) at ``dt`` ms from t = 0, raw (not normalised).
    infarct : Infarct or None
    """

    at: np.ndarray
    labels: np.ndarray
    qrs: ECG
    infarct: Infarct | None = None

    @property
    def qrs_duration(self) -> float:
        """QRS duration from the signal, ms (:func:`mitwin.ep.delineation.qrs_duration`)."""
        return float(self.qrs.qrs_duration())

    @property
    def total_activation_time(self) -> float:
        """``max(at) - min(at)`` over the nodes that activate, ms."""
        active = self.at[np.isfinite(self.at)]
        return float(active.max() - active.min())


@dataclass(frozen=True)
class BatchSimulation:
    """K simulations of one heart on a common QRS time axis.

    Attributes
    ----------
    at : (K, N) float64 ms
    labels : (K, N) int8
    qrs : ECGBatch, ``signals`` (K, 8, T); T is set by the latest activation of the batch.
    qrs_length : (K,) int64, samples of each row up to its own end of activation plus the margin
        (the rest is the resting signal, zero).
    infarcts : list of Infarct or None
    """

    at: np.ndarray
    labels: np.ndarray
    qrs: ECGBatch
    qrs_length: np.ndarray
    infarcts: list[Infarct | None] = field(default_factory=list)

    def __len__(self) -> int:
        return int(self.at.shape[0])

    def __getitem__(self, k: int) -> Simulation:
        full = self.qrs[k]
        ecg = ECG(full.signals[:, : int(self.qrs_length[k])], full.dt, full.leads, full.t0)
        return Simulation(self.at[k], self.labels[k], ecg, self.infarcts[k])


class Forward:
    """A heart prepared for forward simulation: conduction system, activation solver, lead field.

    Build it with :func:`prepare`. Safe to reuse for any number of infarcts.

    Attributes
    ----------
    heart : Heart
    conduction : :class:`mitwin.ep.conduction.Conduction`
    solver : :class:`mitwin.ep.activation.ActivationSolver`
    lead_field : :class:`mitwin.ep.leadfield.LeadField`
    qrs_options : :class:`mitwin.ep.leadfield.QRSOptions`
    """

    def __init__(self, heart: HeartLike, solver: ActivationSolver, lead_field: LeadField, conduction: Conduction,
                 *, qrs_options: QRSOptions) -> None:
        self.heart = heart
        self.solver = solver
        self.lead_field = lead_field
        self.conduction = conduction
        self.qrs_options = qrs_options

    @property
    def dt(self) -> float:
        """QRS sampling interval, ms."""
        return self.qrs_options.dt

    @property
    def n_nodes(self) -> int:
        return int(self.heart.points.shape[0])

    def with_conduction(self, params: ConductionParams) -> Forward:
        """The same heart, lead field and QRS options with another conduction system (a new solver)."""
        conduction = conduction_system(self.heart, params)
        solver = _activation_solver(self.heart, conduction, self.solver.method)
        return Forward(self.heart, solver, self.lead_field, conduction, qrs_options=self.qrs_options)

    def labels(self, infarct: Infarct | None) -> np.ndarray:
        """(N,) int8 labels of ``infarct`` on this heart (all 0 for None).

        Raises
        ------
        ValueError
            When the infarct has no scar node on this heart.
        """
        if infarct is None:
            return np.zeros(self.n_nodes, dtype=np.int8)
        if not isinstance(infarct, Infarct):
            raise ValueError(f"infarct: expected an Infarct or None, got {type(infarct).__name__}")
        h = self.heart
        lab = infarct.labels(h.tm, h.ab, h.rt, h.tv)
        if not np.any(lab == 2):
            raise ValueError(f"infarct: {infarct.name!r} contains no node of this heart (an empty infarct); "
                             "check its centre and radii")
        return lab

    def _speed_factor(self, infarct: Infarct | None, labels: np.ndarray) -> np.ndarray:
        return np.ones(self.n_nodes) if infarct is None else infarct.speed_factor(labels)

    def activation(self, speed_factors: np.ndarray, n_threads: int | None = 1) -> np.ndarray:
        """(K, N) activation times for (K, N) speed-factor fields (the C++ batch)."""
        c = self.conduction
        return self.solver.solve_batch(c.roots, c.root_times, speed_factors, n_threads=n_threads)

    def simulate(self, infarct: Infarct | None = None) -> Simulation:
        """Activation times, labels and QRS for one infarct (None: the healthy heart)."""
        labels = self.labels(infarct)
        c = self.conduction
        at = self.solver.solve(c.roots, c.root_times, self._speed_factor(infarct, labels))
        qrs = self.lead_field.qrs(at, options=self.qrs_options)
        return Simulation(at, labels, qrs, infarct)

    def simulate_batch(self, infarcts: Sequence[Infarct | None], n_threads: int | None = 1) -> BatchSimulation:
        """Simulate several infarcts (None entries: healthy) in one parallel C++ batch.

        Parameters
        ----------
        infarcts : sequence of Infarct or None
        n_threads : int or None
            Threads of the activation and QRS batches (None: all cores). Use 1 when several
            processes share the machine.

        Returns
        -------
        BatchSimulation
        """
        infarcts = list(infarcts)
        if not infarcts:
            raise ValueError("infarcts: expected at least one infarct (or None for the healthy heart), got none")
        labels = np.stack([self.labels(inf) for inf in infarcts])
        factors = np.stack([self._speed_factor(inf, lab) for inf, lab in zip(infarcts, labels)])
        return self.simulate_factors(factors, labels, infarcts, n_threads=n_threads)

    def simulate_factors(self, speed_factors: np.ndarray, labels: np.ndarray,
                         infarcts: Sequence[Infarct | None] | None = None,
                         n_threads: int | None = 1) -> BatchSimulation:
        """The batch of (K, N) speed-factor fields with their (K, N) labels, for tissue that no
        :class:`Infarct` describes (e.g. label fields sampled by an inverse method).

        ``infarcts`` (default all None) is carried into the result.
        """
        at = self.activation(speed_factors, n_threads=n_threads)
        qrs = self.lead_field.qrs_batch(at, options=self.qrs_options, n_threads=n_threads)
        length = np.minimum(qrs_length(at, self.qrs_options), qrs.signals.shape[-1])
        kept: list[Infarct | None] = [None] * at.shape[0] if infarcts is None else list(infarcts)
        return BatchSimulation(at, labels, qrs, length, kept)


def prepare(heart: HeartLike, *, conduction: ConductionParams | None = None, speeds: Sequence[float] | None = None,
            dense_speed: float | None = None, sparse_speed: float | None = None, purkinje_speed: float | None = None,
            method: str = "eikonal", dt: float | None = None, electrodes: Mapping[str, Any] | None = None,
            qrs_options: QRSOptions | dict[str, Any] | None = None, n_threads: int | None = None) -> Forward:
    """Set up the forward model of one heart (the expensive part, done once).

    Parameters
    ----------
    heart : Heart
        A :class:`mitwin.anatomy.heart.Heart` (points, tets, surfaces, coordinates, fibres,
        electrodes), or any object with those attributes (:class:`HeartLike`).
    conduction : ConductionParams, optional
        The conduction system (root sites and times, endocardial regions and speeds, myocardial
        speeds); default :data:`mitwin.ep.conduction.DEFAULT_PARAMS`, or a personalised one
        (:func:`mitwin.personalisation.personalise`).
    speeds : (3,) float, optional
        Healthy speeds along fibre, sheet, sheet-normal, m/s (replace those of ``conduction``).
    dense_speed, sparse_speed : float, optional
        Speeds of the fast endocardial layer, m/s (replace those of ``conduction``).
    purkinje_speed : float, optional
        Purkinje speed for the root delays of ``timing="purkinje"``, m/s.
    method : {"eikonal", "dijkstra"}
        Activation solver (:class:`mitwin.ep.activation.ActivationSolver`).
    dt : float, optional
        QRS sampling interval, ms (shorthand for ``qrs_options.dt``).
    electrodes : dict, optional
        Electrode positions replacing ``heart.electrodes``.
    qrs_options : QRSOptions or dict, optional
        How the QRS is synthesised (:class:`mitwin.ep.leadfield.QRSOptions`: template, margin,
        low-pass, ...); a dict holds some of its fields.
    n_threads : int, optional
        Threads for building the lead field (None: all cores).

    Returns
    -------
    Forward
    """
    for attr in ("points", "tets", "fibres", "sheets", "surfaces", "tm", "ab", "rt", "tv", "electrodes"):
        if not hasattr(heart, attr):
            raise ValueError(f"heart: expected a Heart with {attr!r}, got {type(heart).__name__} without it")
    options = qrs_options if isinstance(qrs_options, QRSOptions) else QRSOptions.from_dict(qrs_options)
    if dt is not None:
        options = options.with_changes(dt=dt)
    params = DEFAULT_PARAMS if conduction is None else conduction
    if not isinstance(params, ConductionParams):
        raise ValueError(f"conduction: expected a ConductionParams, got {type(params).__name__}")
    if speeds is not None:
        params = params.with_changes(speeds=tuple(speeds))
    system = conduction_system(heart, params, dense=dense_speed, sparse=sparse_speed, purkinje_speed=purkinje_speed)
    solver = _activation_solver(heart, system, method)
    lead_field = LeadField(heart.points, heart.tets, heart.electrodes if electrodes is None else electrodes,
                           n_threads=n_threads)
    return Forward(heart, solver, lead_field, system, qrs_options=options)


def _activation_solver(heart: HeartLike, system: Conduction, method: str) -> ActivationSolver:
    """The activation solver of ``heart`` with the speeds and fast endocardial layer of ``system``."""
    return ActivationSolver(heart.points, heart.tets, heart.fibres, heart.sheets, speeds=system.params.speeds,
                            endo_speed=system.endo_speed, method=method)


def simulate(heart: HeartLike, infarct: Infarct | None = None, **options: Any) -> Simulation:
    """Simulate one heart with one infarct (None: healthy) - ``prepare(heart, **options).simulate(infarct)``.

    Examples
    --------
    >>> import mitwin
    >>> heart = mitwin.Heart.load("cohort/subject_000.vtu")  # doctest: +SKIP
    >>> sim = mitwin.simulate(heart, mitwin.SCENARIOS["septal_transmural"])  # doctest: +SKIP
    >>> sim.at.shape == (heart.n_nodes,), sim.qrs.signals.shape[0]  # doctest: +SKIP
    (True, 8)
    """
    return prepare(heart, **options).simulate(infarct)
