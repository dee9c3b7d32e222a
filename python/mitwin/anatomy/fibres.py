"""Rule-based myocardial fibres from ventricular coordinates (the idea of Bayer et al. 2012, LDRB).

At every node a local orthonormal frame is built from the coordinates:

* ``e_n`` (transmural, pointing to the epicardium): the principal direction of the per-tet
  gradients of tm around the node (a structure tensor, so that the sign flip of grad tm at the
  mid-septal surface, where tm has its minimum, does not cancel the direction), oriented along
  ``-grad tm``;
* ``e_l`` (longitudinal, apex to base): grad ab made orthogonal to ``e_n``;
* ``e_c = e_l x e_n`` (circumferential).

The fibre is ``cos(a) e_c + sin(a) e_l`` with the helix angle ``a`` varying linearly in tm
from ``helix_epi`` (tm = 0) to ``helix_endo`` (tm = 1) in the free walls. In the septum
(rt in (2/3, 1)), where tm runs 1 -> 0 -> 1 from the LV to the RV endocardium and the frame
turns over at the mid-septum, ``a = helix_endo * tm``: measured in one frame across the whole
septum this is +helix_endo at the LV endocardium, 0 in the middle and -helix_endo at the RV
endocardium, as in LDRB's septal interpolation. A narrow band (``blend`` in rt) joins the two
rules at the insertion junctions. The sheet is ``e_n`` and the sheet normal ``f x s``.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .coordinates import tet_gradients


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-300)


def _septal_weight(rt: np.ndarray, blend: float) -> np.ndarray:
    """1 inside the septum (rt in (2/3, 1)), 0 on the free walls, linear ramps of width ``blend``."""
    rt = np.mod(rt, 1.0)
    a, b = 2.0 / 3.0, 1.0
    w = np.clip((rt - a) / blend + 0.5, 0.0, 1.0) * np.clip((b - rt) / blend + 0.5, 0.0, 1.0)
    # posterior junction side seen from rt ~ 0
    w = np.maximum(w, np.clip(0.5 - rt / blend, 0.0, 1.0))
    return w


def compute_fibres(points: np.ndarray, tets: np.ndarray, tm: np.ndarray, ab: np.ndarray, rt: np.ndarray,
                   tv: np.ndarray, *, helix_endo: float = 60.0, helix_epi: float = -60.0,
                   blend: float = 0.03) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fibre, sheet and sheet-normal directions at every node.

    Parameters
    ----------
    points : (N, 3) float64, mm; tets : (M, 4) int64.
    tm, ab, rt, tv : (N,) Cobiveco-style coordinates (tv is accepted for a uniform signature;
        the septum is recognised from rt, which covers both of its sides).
    helix_endo, helix_epi : helix angles in degrees at tm = 1 and tm = 0.
    blend : width in rt of the transition between the free-wall and the septal rule.

    Returns
    -------
    fibres, sheets, normals : (N, 3) float64, unit and mutually orthogonal per node.

    Examples
    --------
    >>> from mitwin.anatomy.synthetic import shell_mesh
    >>> s = shell_mesh(16, 10, 3)
    >>> f, sh, nn = compute_fibres(s.points, s.tets, s.tm, s.ab, 0.3 + 0 * s.ab, 0 * s.ab)
    >>> bool(np.allclose(np.einsum("ij,ij->i", f, sh), 0.0))
    True
    """
    n = points.shape[0]
    grads, vol = tet_gradients(points, tets)
    w = np.abs(vol)
    g_tm = np.einsum("mi,mik->mk", tm[tets], grads)
    g_ab = np.einsum("mi,mik->mk", ab[tets], grads)
    # structure tensor of grad tm and plain averages, volume weighted, summed onto the nodes
    m = tets.shape[0]
    incidence = sp.csr_array((np.repeat(w, 4), (tets.ravel(), np.repeat(np.arange(m), 4))), shape=(n, m))
    outer = np.einsum("mi,mj->mij", g_tm, g_tm).reshape(m, 9)
    tens = (incidence @ outer).reshape(n, 3, 3)
    avg_tm = incidence @ g_tm
    avg_ab = incidence @ g_ab
    _, vecs = np.linalg.eigh(tens)
    e_n = vecs[:, :, 2]
    # orient towards the epicardium: against the gradient of tm of the tets on the node's side
    sign = np.sign(np.einsum("ij,ij->i", e_n, -avg_tm))
    sign[sign == 0] = 1.0
    e_n = _unit(e_n * sign[:, None])
    e_l = avg_ab - np.einsum("ij,ij->i", avg_ab, e_n)[:, None] * e_n
    bad = np.linalg.norm(e_l, axis=1) < 1e-12
    if np.any(bad):  # grad ab parallel to the wall normal (at the apex): any tangent will do
        helper = np.where(np.abs(e_n[bad, 2:3]) < 0.9, [[0.0, 0.0, 1.0]], [[1.0, 0.0, 0.0]])
        e_l[bad] = helper - np.einsum("ij,ij->i", helper, e_n[bad])[:, None] * e_n[bad]
    e_l = _unit(e_l)
    e_c = np.cross(e_l, e_n)

    free = np.deg2rad(helix_epi + (helix_endo - helix_epi) * tm)
    septal = np.deg2rad(helix_endo * tm)
    ws = _septal_weight(rt, blend)
    alpha = (1.0 - ws) * free + ws * septal
    fibres = _unit(np.cos(alpha)[:, None] * e_c + np.sin(alpha)[:, None] * e_l)
    sheets = e_n
    normals = _unit(np.cross(fibres, sheets))
    return fibres, sheets, normals


def helix_angle(fibres: np.ndarray, e_c: np.ndarray, e_l: np.ndarray) -> np.ndarray:
    """Helix angle (degrees, in [-90, 90]) of fibres in a circumferential/longitudinal frame.

    Fibres are lines (f and -f are the same fibre), so the angle is folded into [-90, 90].
    """
    a = np.degrees(np.arctan2(np.einsum("ij,ij->i", fibres, e_l), np.einsum("ij,ij->i", fibres, e_c)))
    return (a + 90.0) % 180.0 - 90.0
