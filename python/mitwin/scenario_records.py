"""Scenario records: what an infarct scenario is, as fields that travel with the dataset.

A :class:`ScenarioRecord` holds a scenario's name, its :class:`~mitwin.ellipsoid.Infarct` and what the
infarct stands for: the location (a key of :data:`mitwin.infarct.LOCATIONS`, ``"random"``, or None when
unknown), the transmural extent (``"transmural"``, ``"subendocardial"`` or None), the size (r_ab and r_rt
relative to the location's template: 1 large, 0.5 small; None when not a template), the tissue preset of its
speed factors (:mod:`mitwin.tissue`; None for custom factors), and, for a scenario that repeats another
one's infarct with other tissue (the paper's slow-conduction case), the name of that other scenario
(``variant_of``). Code reads these fields; it never parses a scenario's name.

A :class:`ScenarioSet` is an ordered, read-only mapping name -> Infarct (so ``SCENARIOS[name]`` is an
``Infarct``) that also keeps the records. Its JSON form (:meth:`ScenarioSet.to_json`) is the dataset
header's ``scenarios_json``: one object per name with the infarct's parameters and the record's fields side
by side.

The one rule for which scenarios are inference targets is here (:attr:`ScenarioRecord.is_inference_target`):
every scenario except a tissue variant of another one, as the paper excludes its slow-conduction
variant. When a file does not record ``variant_of`` (datasets and user files written before records),
:func:`derive_variants` recovers it from the parameters: a scenario is a variant when another scenario has
the same geometry (centre, radii, BZ radii) with the most common speed factors of the file while its own
factors differ.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from .ellipsoid import RECORD_FIELDS, Infarct
from .tissue import Tissue, get_tissue, tissue_of

log = logging.getLogger(__name__)

__all__ = ["EXTENTS_KNOWN", "ScenarioRecord", "ScenarioSet", "derive_variants", "inference_targets",
           "record_from_dict"]

#: Allowed values of :attr:`ScenarioRecord.extent` (besides None).
EXTENTS_KNOWN: tuple[str, ...] = ("transmural", "subendocardial")


@dataclass(frozen=True)
class ScenarioRecord:
    """One infarct scenario with its structure as fields.

    Parameters
    ----------
    name : str
        Unique, non-empty, not ``"baseline"``.
    infarct : Infarct
        The ellipsoids and speed factors that are simulated.
    location : str or None
        Where the infarct is: a key of :data:`mitwin.infarct.LOCATIONS`, ``"random"``, another label, or None
        (unknown).
    extent : {"transmural", "subendocardial", None}
        Transmural extent of the paper's templates; None when unknown or not a template.
    size : float or None
        r_ab and r_rt relative to the location's template (1 large, 0.5 small); None when unknown.
    tissue : str or None
        Preset whose factors the infarct has (:func:`mitwin.tissue.tissue_of`); derived from the infarct when
        not given, checked against it when given. None: custom factors.
    variant_of : str or None
        Name of the scenario whose infarct this one repeats with other tissue (not an inference target).
    params : mapping of str to float
        Generator parameters beyond the infarct's own (random infarcts: seed, subject, k, transmurality, ...).

    Examples
    --------
    >>> r = ScenarioRecord("a", Infarct(centre=(1, 0.5, 0.3), radii=(3, 0.2, 0.1)), location="lateral",
    ...                    extent="transmural", size=1.0)
    >>> r.tissue, r.is_inference_target, r.label
    ('paper', True, 'lateral transmu')
    """

    name: str
    infarct: Infarct
    location: str | None = None
    extent: str | None = None
    size: float | None = None
    tissue: str | None = None
    variant_of: str | None = None
    params: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name or self.name == "baseline":
            raise ValueError(f"name: expected a non-empty scenario name other than 'baseline', got {self.name!r}")
        if not isinstance(self.infarct, Infarct):
            raise ValueError(f"infarct: expected an Infarct for scenario {self.name!r}, got "
                             f"{type(self.infarct).__name__}")
        if self.location is not None and (not isinstance(self.location, str) or not self.location):
            raise ValueError(f"location: expected a non-empty string or None for {self.name!r}, got {self.location!r}")
        if self.extent is not None and self.extent not in EXTENTS_KNOWN:
            raise ValueError(f"extent: expected one of {EXTENTS_KNOWN} or None for {self.name!r}, got {self.extent!r}")
        if self.size is not None:
            try:
                size = float(self.size)
            except (TypeError, ValueError):
                size = float("nan")
            if not size > 0 or size == float("inf"):
                raise ValueError(f"size: expected a positive number or None for {self.name!r}, got {self.size!r}")
            object.__setattr__(self, "size", size)
        own = tissue_of(self.infarct.scar_factor, self.infarct.bz_factor)
        if self.tissue is None:
            object.__setattr__(self, "tissue", own)
        elif self.tissue != own:
            raise ValueError(f"tissue: scenario {self.name!r} names tissue {self.tissue!r} but its infarct has factors "
                             f"scar {self.infarct.scar_factor:g} / BZ {self.infarct.bz_factor:g} "
                             f"({'preset ' + repr(own) if own else 'no preset'})")
        if self.variant_of is not None and (not isinstance(self.variant_of, str) or self.variant_of == self.name):
            raise ValueError(f"variant_of: expected the name of another scenario or None for {self.name!r}, "
                             f"got {self.variant_of!r}")
        if not isinstance(self.params, Mapping):
            raise ValueError(f"params: expected a mapping for {self.name!r}, got {type(self.params).__name__}")
        object.__setattr__(self, "params", dict(self.params))
        if self.infarct.name != self.name:
            object.__setattr__(self, "infarct", replace(self.infarct, name=self.name))

    @property
    def is_inference_target(self) -> bool:
        """The rule for inference targets: every scenario that is not a tissue variant of another."""
        return self.variant_of is None

    @property
    def label(self) -> str:
        """A short display name from the fields, e.g. ``small lateral transmu slow CV``; the name when the
        location is unknown."""
        if self.location is None:
            return self.name
        ext = {"transmural": "transmu", "subendocardial": "subendo", None: ""}[self.extent]
        small = "small" if self.size is not None and self.size < 1.0 else ""
        variant = "slow CV" if self.variant_of is not None else ""
        return " ".join(p for p in (small, self.location.replace("_", " "), ext, variant) if p)

    def with_tissue(self, tissue: str | Tissue) -> ScenarioRecord:
        """The record with its infarct's speed factors set to a preset."""
        t = get_tissue(tissue)
        return replace(self, infarct=self.infarct.with_tissue(t), tissue=t.name)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the infarct's parameters and the record's fields in one object."""
        d = self.infarct.to_dict()
        d.update(location=self.location, extent=self.extent, size=self.size, tissue=self.tissue,
                 variant_of=self.variant_of, params=dict(self.params))
        return d


def record_from_dict(name: str, data: Mapping[str, Any]) -> ScenarioRecord:
    """A record from one JSON entry (:meth:`ScenarioRecord.to_dict`); fields it lacks stay None."""
    infarct = Infarct.from_dict(data, name=name)
    fields = {k: data[k] for k in RECORD_FIELDS if k in data}
    fields.setdefault("params", {})
    if fields["params"] is None:
        fields["params"] = {}
    return ScenarioRecord(name=name, infarct=infarct, **fields)


def _geometry(r: ScenarioRecord) -> tuple[tuple[float, ...], ...]:
    inf = r.infarct
    return (inf.centre, inf.radii, inf.bz)


def derive_variants(records: Sequence[ScenarioRecord], known: Iterable[str] = ()) -> list[ScenarioRecord]:
    """Fill ``variant_of`` from the parameters for records whose files did not record it.

    The dominant speed factors are the most common (scar, BZ) pair among the records (ties: the first
    listed). A record with other factors is a variant of the first record with the same geometry (centre,
    radii, BZ radii) and the dominant factors. Records named in ``known`` (their ``variant_of`` was
    recorded, even as None) are left as they are.

    Parameters
    ----------
    records : sequence of ScenarioRecord
    known : names whose ``variant_of`` is recorded

    Returns
    -------
    list of ScenarioRecord, in order
    """
    keep = set(known)
    factors = [(r.infarct.scar_factor, r.infarct.bz_factor) for r in records]
    if not factors:
        return []
    counts = Counter(factors)
    dominant = max(counts, key=lambda f: (counts[f], -factors.index(f)))
    twins: dict[tuple[tuple[float, ...], ...], str] = {}
    for r, f in zip(records, factors):
        if f == dominant:
            twins.setdefault(_geometry(r), r.name)
    out = []
    for r, f in zip(records, factors):
        if r.name not in keep and r.variant_of is None and f != dominant and _geometry(r) in twins:
            r = replace(r, variant_of=twins[_geometry(r)])
        out.append(r)
    return out


def inference_targets(records: Iterable[ScenarioRecord]) -> tuple[str, ...]:
    """Names of the records that are inference targets (:attr:`ScenarioRecord.is_inference_target`)."""
    return tuple(r.name for r in records if r.is_inference_target)


class ScenarioSet(Mapping[str, Infarct]):
    """An ordered, read-only mapping name -> Infarct that keeps each scenario's record.

    Parameters
    ----------
    records : iterable of ScenarioRecord
        Unique names; each ``variant_of`` must name another record of the set.

    Examples
    --------
    >>> inf = Infarct(centre=(1, 0.5, 0.3), radii=(3, 0.2, 0.1))
    >>> s = ScenarioSet([ScenarioRecord("a", inf), ScenarioRecord("a_slow", inf.with_tissue("paper_slow"),
    ...                                                       variant_of="a")])
    >>> s["a"].scar_factor, s.inference_names, s.tissue
    (0.1, ('a',), 'paper')
    >>> s.with_tissue("blocked").record("a_slow").tissue
    'blocked_slow'
    """

    def __init__(self, records: Iterable[ScenarioRecord]) -> None:
        recs: dict[str, ScenarioRecord] = {}
        for r in records:
            if not isinstance(r, ScenarioRecord):
                raise ValueError(f"records: expected ScenarioRecord items, got {type(r).__name__}")
            if r.name in recs:
                raise ValueError(f"records: scenario {r.name!r} appears twice")
            recs[r.name] = r
        for r in recs.values():
            if r.variant_of is not None and r.variant_of not in recs:
                raise ValueError(f"variant_of: scenario {r.name!r} is a variant of {r.variant_of!r}, which is not "
                                 f"in the set")
        self._records = recs

    # -- Mapping[str, Infarct]
    def __getitem__(self, name: str) -> Infarct:
        return self._records[name].infarct

    def __iter__(self) -> Iterator[str]:
        return iter(self._records)

    def __len__(self) -> int:
        return len(self._records)

    def __repr__(self) -> str:
        return f"ScenarioSet({list(self._records)!r})"

    def __eq__(self, other: object) -> bool:
        """Two sets are equal when their records are (names, infarcts and fields, in order); compared with
        another mapping, by its items as any mapping."""
        if isinstance(other, ScenarioSet):
            return self.records == other.records
        return super().__eq__(other)

    __hash__ = None  # type: ignore[assignment]

    # -- records
    @property
    def records(self) -> tuple[ScenarioRecord, ...]:
        """The records, in order."""
        return tuple(self._records.values())

    def record(self, name: str) -> ScenarioRecord:
        """The record of one scenario."""
        try:
            return self._records[name]
        except KeyError:
            raise KeyError(f"no scenario {name!r}; expected one of {list(self._records)}") from None

    @property
    def inference_names(self) -> tuple[str, ...]:
        """Names of the inference targets (:func:`inference_targets`)."""
        return inference_targets(self._records.values())

    @property
    def tissue(self) -> str | None:
        """The tissue preset of the inference targets when they share one, else None."""
        names = {r.tissue for r in self._records.values() if r.is_inference_target}
        return names.pop() if len(names) == 1 else None

    def with_tissue(self, tissue: str | Tissue) -> ScenarioSet:
        """Every scenario with the factors of ``tissue``; tissue variants get the preset's variant.

        Raises
        ------
        ValueError
            When the set has tissue variants and the preset has no variant of its own.
        """
        t = get_tissue(tissue)
        out = []
        for r in self._records.values():
            if r.variant_of is None:
                out.append(r.with_tissue(t))
            elif t.variant is None:
                raise ValueError(f"tissue: {t.name!r} has no slow-conduction variant for scenario {r.name!r} "
                                 f"(a variant of {r.variant_of!r}); use a main preset such as 'paper' or 'blocked'")
            else:
                out.append(r.with_tissue(t.variant))
        return ScenarioSet(out)

    def to_dict(self) -> dict[str, dict[str, Any]]:
        """name -> :meth:`ScenarioRecord.to_dict`."""
        return {n: r.to_dict() for n, r in self._records.items()}

    def to_json(self) -> str:
        """The dataset header's ``scenarios_json``."""
        return json.dumps(self.to_dict())
