"""``mitwin fit``: fit an infarct to a QRS on a heart and write the result for ParaView, as JSON and as a PNG.

The output VTU is the heart (every array of :meth:`mitwin.Heart.save`, so it loads as a Heart again) with
three more point arrays: ``fit_labels`` (int8, 0 healthy, 1 BZ, 2 scar), ``scar_probability`` and
``bz_probability`` (float64). Beside it: ``<out>.json`` (the fit's summary and its posterior samples) and
``<out>.png`` (observed vs fitted QRS and the scar probability map).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from .._atomic import write_text_atomic
from ..anatomy.heart import Heart
from ..anatomy.mesh_io import SURFACE_BITS, write_vtu
from .figures import plot_fit
from .fit import InfarctFit, fit_infarct
from .simulator import as_observation

log = logging.getLogger(__name__)

__all__ = ["fit_to_files", "write_fit_vtu"]


def write_fit_vtu(heart: Heart, fit: InfarctFit, path: str | Path) -> Path:
    """Write ``heart`` with the fit's labels and probabilities as point data (VTU, atomically)."""
    path = Path(path)
    flags = np.zeros(heart.n_nodes, dtype=np.uint8)
    for key, bit in SURFACE_BITS.items():
        flags[heart.surfaces.get(key, np.zeros(0, np.int64))] |= np.uint8(bit)
    pd = {"tm": heart.tm, "ab": heart.ab, "rt": heart.rt, "tv": heart.tv, "fibre": heart.fibres,
          "sheet": heart.sheets, "normal": heart.normals, "aha": heart.aha.astype(np.int64), "surface": flags,
          "fit_labels": fit.labels.astype(np.int8), "scar_probability": fit.scar_probability,
          "bz_probability": fit.bz_probability}
    write_vtu(path, heart.points, heart.tets, {k: np.ascontiguousarray(v) for k, v in pd.items()}, heart.electrodes,
              heart.meta)
    return path


def fit_to_files(heart_path: str | Path, qrs: Any, out: str | Path, *, seed: int = 0,
                 n_simulations: int | None = None, tissue: str | None = None, conduction: Any = None,
                 n_threads: int = 1) -> tuple[InfarctFit, dict[str, Path]]:
    """Load a heart, fit the QRS (:func:`mitwin.fit_infarct`) and write VTU, JSON and PNG.

    Parameters
    ----------
    heart_path : path of the heart (.vtu)
    qrs : ECG, the observed QRS
    out : path of the output .vtu
    seed, n_simulations, tissue, conduction, n_threads : as :func:`mitwin.fit_infarct`

    Returns
    -------
    (InfarctFit, {"vtu": path, "json": path, "png": path})
    """
    out = Path(out)
    if out.suffix.lower() != ".vtu":
        raise ValueError(f"out: expected a .vtu file name, got {str(out)!r}")
    heart = Heart.load(heart_path)
    fit = fit_infarct(heart, qrs, seed=seed, n_simulations=n_simulations, tissue=tissue, conduction=conduction,
                      n_threads=n_threads)
    paths = {"vtu": write_fit_vtu(heart, fit, out), "json": out.with_suffix(".json"), "png": out.with_suffix(".png")}
    summary = {**fit.summary(), "heart": str(heart_path), "samples": fit.samples}
    write_text_atomic(paths["json"], json.dumps(summary, indent=1, default=float) + "\n")
    plot_fit(fit, heart, as_observation(qrs, fit.qrs.dt), paths["png"], title=Path(heart_path).name)
    return fit, paths
