"""Infarct tissue presets: the conduction-speed factors of scar and border zone (BZ).

A preset fixes the speed of scar and BZ as fractions of healthy tissue (1 = healthy). A scar factor of
0 is *blocked* tissue: it never activates (activation time ``inf``), no wave passes through it and it is
silent in the ECG. Presets:

* ``"paper"``: the slow-conducting scar of Li et al. (IEEE TMI 2024, Sec. IV-A.1): scar 10 %, BZ 50 %.
* ``"paper_slow"``: their slow-conduction variant: scar 5 %, BZ 25 %.
* ``"blocked"``: a non-conducting, electrically silent scar (the "complete insulator" representation,
  the most common one in image-based infarct models; Connolly & Bishop 2016, Clin Med Insights
  Cardiol 10(S1):27-40) with a BZ at 50 % of healthy speed. Chronic-stage BZ conduction is slowed by
  structural remodelling; Mendonça Costa et al. 2018 (Front Physiol 9:356) review the measurements and
  models, in which BZ conduction velocity is commonly reduced by about half.
* ``"blocked_slow"``: the blocked scar with the BZ halved again (25 %), the counterpart of
  ``"paper_slow"`` for the slow-conduction scenario.

Each main preset names the preset of its slow-conduction variant (:attr:`Tissue.variant`), used for the
scenario that repeats an infarct with slower conduction (the paper's ``lateral_transmural_slow_cv``).

Examples
--------
>>> get_tissue("blocked").scar_factor
0.0
>>> get_tissue("paper").variant
'paper_slow'
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

__all__ = ["DEFAULT_TISSUE", "TISSUES", "Tissue", "check_factors", "get_tissue", "tissue_of"]


@dataclass(frozen=True)
class Tissue:
    """Speed factors of scar and border zone, as fractions of healthy conduction speed.

    Parameters
    ----------
    name : str
        Preset name.
    scar_factor : float
        Scar speed factor in [0, 1]; 0 = blocked (never activates, silent).
    bz_factor : float
        Border-zone speed factor in (0, 1].
    variant : str or None
        Preset of this tissue's slow-conduction variant (None: it has none).
    description : str
        One line for tables and help texts.
    """

    name: str
    scar_factor: float
    bz_factor: float
    variant: str | None = None
    description: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"name: expected a non-empty string, got {self.name!r}")
        check_factors(self.scar_factor, self.bz_factor)
        object.__setattr__(self, "scar_factor", float(self.scar_factor))
        object.__setattr__(self, "bz_factor", float(self.bz_factor))

    @property
    def factors(self) -> tuple[float, float]:
        """(scar_factor, bz_factor)."""
        return (self.scar_factor, self.bz_factor)

    @property
    def blocked(self) -> bool:
        """True when the scar does not conduct (factor 0)."""
        return self.scar_factor == 0.0


def _is_number(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(float(value))


def check_factors(scar_factor: object, bz_factor: object) -> None:
    """Raise ValueError unless ``scar_factor`` is in [0, 1] and ``bz_factor`` in (0, 1]."""
    if not _is_number(scar_factor) or not 0.0 <= float(scar_factor) <= 1.0:  # type: ignore[arg-type]
        raise ValueError(f"scar_factor: expected a speed fraction in [0, 1] (0 = blocked), got {scar_factor!r}")
    if not _is_number(bz_factor) or not 0.0 < float(bz_factor) <= 1.0:  # type: ignore[arg-type]
        raise ValueError(f"bz_factor: expected a speed fraction in (0, 1], got {bz_factor!r}")


#: The named presets, name -> Tissue.
TISSUES: dict[str, Tissue] = {
    t.name: t
    for t in (
        Tissue("paper", 0.1, 0.5, "paper_slow", "slow scar 10 %, BZ 50 % (Li et al. 2024)"),
        Tissue("paper_slow", 0.05, 0.25, None, "slow scar 5 %, BZ 25 % (Li et al. 2024, slow-conduction variant)"),
        Tissue("blocked", 0.0, 0.5, "blocked_slow", "blocked, silent scar; BZ 50 %"),
        Tissue("blocked_slow", 0.0, 0.25, None, "blocked, silent scar; BZ 25 % (slow-conduction variant)"),
    )
}

#: Tissue of new datasets made by ``mitwin simulate`` without ``--tissue``: the blocked, silent scar, whose
#: QRS durations are in the clinical post-MI range (about 80-105 ms on the default cohort, where the paper's slow
#: scar gives up to 350 ms for transmural infarcts). The paper's tissue is one flag away (``--tissue paper``);
#: :data:`mitwin.infarct.SCENARIOS` and :func:`mitwin.data.campaign.run_campaign` without settings keep the
#: paper's tissue, so that the Python API reproduces the paper.
DEFAULT_TISSUE = "blocked"


def get_tissue(tissue: str | Tissue) -> Tissue:
    """The preset called ``tissue`` (a :class:`Tissue` is returned as it is).

    Raises
    ------
    ValueError
        When no preset has that name.
    """
    if isinstance(tissue, Tissue):
        return tissue
    if not isinstance(tissue, str) or tissue not in TISSUES:
        raise ValueError(f"tissue: expected one of {sorted(TISSUES)}, got {tissue!r}")
    return TISSUES[tissue]


def tissue_of(scar_factor: float, bz_factor: float) -> str | None:
    """Name of the preset with exactly these factors, or None (custom factors).

    >>> tissue_of(0.1, 0.5), tissue_of(0.2, 0.5)
    ('paper', None)
    """
    for t in TISSUES.values():
        if t.factors == (float(scar_factor), float(bz_factor)):
            return t.name
    return None
