"""The shrinking apical infarct of the paper's Fig. 11a: DTW to the baseline against the apicobasal radius."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from ..anatomy.cohort import load_cohort
from ..anatomy.heart import Heart
from ..ep.forward import simulate
from ..ep.leads import LEADS
from ..ep.normalise import normalise_batch
from ..infarct import SCENARIOS, Infarct, ScenarioSet
from .dtw import DEFAULT_PENALTY, dtw_one_to_many
from .subject import DEFAULT_BAND, signal_durations

__all__ = ["APICAL_RADII", "apical_infarct", "apical_size_experiment"]

#: Apicobasal scar radii of the shrinking apical infarct (paper Fig. 11: 0.5 down to 0.05).
APICAL_RADII = (0.5, 0.4, 0.3, 0.2, 0.1, 0.05)


def apical_infarct(scenarios: ScenarioSet) -> Infarct:
    """The full-size transmural apical infarct of a scenario set, found by its record's fields."""
    for r in scenarios.records:
        if r.location == "apical" and r.extent == "transmural" and r.size == 1.0 and r.is_inference_target:
            return r.infarct
    raise ValueError("scenarios: no full-size transmural apical scenario (location 'apical', extent 'transmural') "
                     "to shrink")


def apical_size_experiment(cohort: str | os.PathLike, subjects: Sequence[str], radii: Sequence[float] = APICAL_RADII,
                           *, band: int | None = DEFAULT_BAND, penalty: float = DEFAULT_PENALTY,
                           n_threads: int | None = None, normalisation: str | None = "amplitude",
                           tissue: str = "paper", progress: bool = False) -> list[dict]:
    """DTW to baseline of a transmural apical infarct whose apicobasal scar radius shrinks (paper Fig. 11a).

    For each subject the baseline and the apical transmural scenario of :data:`mitwin.infarct.SCENARIOS`
    (with the factors of ``tissue``) with ``r_ab`` replaced by each value of ``radii`` are simulated with
    :func:`mitwin.ep.forward.simulate`; the border-zone radius keeps its margin over the scar
    (``bz_r_ab = r_ab + (bz_r_ab0 - r_ab0)``). The QRS are normalised with
    :func:`mitwin.ep.normalise.normalise_batch`.

    Parameters
    ----------
    cohort : path
        Cohort directory (:func:`mitwin.anatomy.cohort.load_cohort`).
    subjects : sequence of str
        Subject ids (``subject_000``, ...): matched to the cohort files by stem.
    radii : sequence of float
        Apicobasal scar radii, each in (0, 1].
    tissue : str
        Tissue preset of the infarct (:mod:`mitwin.tissue`).

    Returns
    -------
    list of dict
        One row per subject and radius: ``subject, r_ab, qrs_duration_ms, dtw_<lead>..., dtw_avg, dtw_max``.
    """
    rad = [float(r) for r in radii]
    if not rad or any(not (0 < r <= 1) for r in rad):
        raise ValueError(f"radii: expected apicobasal radii in (0, 1], got {list(radii)}")
    cohort = Path(cohort)
    if not cohort.exists():
        raise FileNotFoundError(f"cohort: no such directory {cohort}")
    base_inf = apical_infarct(SCENARIOS).with_tissue(tissue)
    paths = {Path(p).stem: Path(p) for p in load_cohort(cohort)}
    rows: list[dict] = []
    todo = [s for s in subjects if s in paths]
    if not todo:
        raise ValueError(f"subjects: none of {list(subjects)[:3]}... is in the cohort {cohort}")
    it: Iterable[str] = todo
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(todo, desc="apical sizes", unit="subject")
    for sid in it:
        heart = Heart.load(paths[sid])
        sims = [simulate(heart, None)]
        for r in rad:
            radii3 = (base_inf.radii[0], r, base_inf.radii[2])
            bz = base_inf.bz
            bz3 = (bz[0], r + (bz[1] - base_inf.radii[1]), bz[2])
            inf = replace(base_inf, radii=radii3, bz_radii=bz3, name=f"{base_inf.name}_rab{r:g}")
            sims.append(simulate(heart, inf))
        sig = [np.asarray(s.qrs.signals, dtype=np.float64) for s in sims]
        t = np.asarray(sims[0].qrs.t, dtype=np.float64)
        dt = float(t[1] - t[0]) if t.size > 1 else 1.0
        lens = np.array([x.shape[1] for x in sig], dtype=np.int64)
        pad = np.zeros((len(sig), len(LEADS), int(lens.max())))
        for k, x in enumerate(sig):
            pad[k, :, : x.shape[1]] = x
        norm = normalise_batch(pad, lens, normalisation)
        d = dtw_one_to_many(norm[0], norm[1:], lens[1:], ref_length=int(lens[0]), band=band, penalty=penalty,
                            n_threads=n_threads)
        durations = signal_durations(pad, lens, dt)  # raw signals, as in the dataset
        for k, r in enumerate(rad):
            row = {"subject": sid, "r_ab": r, "qrs_duration_ms": float(durations[k + 1])}
            row.update({f"dtw_{ld}": float(d[k, j]) for j, ld in enumerate(LEADS)})
            row["dtw_avg"] = float(d[k].mean())
            row["dtw_max"] = float(d[k].max())
            rows.append(row)
    return rows
