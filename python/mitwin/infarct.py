"""The paper's infarct scenarios, the scenario files, and the public face of the infarct modules.

The infarct itself (Eq. 1 of Li et al., IEEE TMI 2024) is :class:`mitwin.ellipsoid.Infarct`; its
tissue (speed factors of scar and border zone) comes from a preset of :mod:`mitwin.tissue`; a scenario is
a :class:`mitwin.scenario_records.ScenarioRecord` (name, location, extent, size, tissue, variant, the
infarct). All of them are importable from here.

The 17 scenarios (:data:`SCENARIOS`) are 7 locations x 2 transmural extents, the small lateral
infarct x 2 extents, and the transmural large lateral infarct with slower conduction. Their
centres and radii are in :data:`LOCATIONS` - the one place they are defined. Each location is
placed on the AHA 17-segment map so that it covers the segments Nikus et al. (2014) assign to
it (:data:`TARGET_SEGMENTS`); :func:`aha_overlap` measures how well, and :func:`scenario_table`
prints it all. :func:`paper_scenarios` gives the same 17 with any tissue preset.

Scenario files and datasets store each scenario's record (:meth:`ScenarioSet.to_json`). Files written
before records existed carry only the infarct's parameters; :func:`scenarios_from_json` reads them with
one fallback: a scenario named as one of the paper's 17 gets that scenario's location, extent and size,
any other gets them unknown (None); the slow-conduction variant is recovered from the parameters
(:func:`mitwin.scenario_records.derive_variants`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .ellipsoid import BORDER_ZONE, BZ_MARGIN, HEALTHY, SCAR, Infarct, Overlap, aha_overlap, node_volumes
from .errors import DatasetError
from .scenario_records import ScenarioRecord, ScenarioSet, derive_variants, record_from_dict
from .tissue import DEFAULT_TISSUE, TISSUES, Tissue, get_tissue

log = logging.getLogger(__name__)

__all__ = [
    "BORDER_ZONE",
    "BZ_MARGIN",
    "DEFAULT_TISSUE",
    "EXAMPLES_DIR",
    "EXTENTS",
    "HEALTHY",
    "INFERENCE_SCENARIOS",
    "LOCATIONS",
    "SCAR",
    "SCENARIOS",
    "SCENARIO_NAMES",
    "SLOW_FACTORS",
    "TARGET_SEGMENTS",
    "TISSUES",
    "Infarct",
    "Overlap",
    "ScenarioRecord",
    "ScenarioSet",
    "Tissue",
    "aha_overlap",
    "as_scenario_set",
    "get_tissue",
    "load_scenarios",
    "node_volumes",
    "paper_scenarios",
    "scenario_location",
    "scenario_table",
    "scenarios_from_json",
]

#: Folder of the example scenario files shipped with mitwin (``apical_sizes.json``: the apical
#: infarct with r_ab 0.3, 0.2 and 0.1, the shrinking series of the paper's Fig. 11).
EXAMPLES_DIR = Path(__file__).resolve().parent / "scenarios"

#: Speed factors (scar, BZ) of the slow-conduction variant (paper Sec. IV-A.1: 5 % and 25 %).
SLOW_FACTORS: tuple[float, float] = TISSUES["paper_slow"].factors

#: r_tm of the two transmural extents (paper Sec. IV-A.1), both centred on the endocardium (tm0 = 1).
EXTENTS: dict[str, float] = {"transmural": 3.0, "subendocardial": 0.5}

#: r_ab and r_rt of the small lateral infarct relative to the large one (paper Sec. IV-A.1: halved).
SMALL_SIZE = 0.5


# ---------------------------------------------------------------------------------------------
# The scenario table: the one place where the paper's infarcts are defined.
# ---------------------------------------------------------------------------------------------

#: AHA segments of each location after Nikus et al. (2014), "Updated electrocardiographic
#: classification of acute coronary syndromes", Curr. Cardiol. Rev. 10(3):229-236, as used in
#: Fig. 2 of the paper.
TARGET_SEGMENTS: dict[str, tuple[int, ...]] = {
    "septal": (7, 8, 9, 13, 14),
    "apical": (13, 14, 15, 16, 17),
    "extensive_anterior": (1, 2, 3, 7, 8, 9, 13, 14, 15, 16, 17),
    "limited_anterior": (1, 6, 7, 12, 13, 16, 17),
    "lateral": (5, 6, 11, 12, 16),
    "inferior": (3, 4, 9, 10, 14, 15, 17),
    "inferolateral": (3, 4, 5, 9, 10, 11, 12, 15, 16),
}

#: Location -> ((ab0, rt0), (r_ab, r_rt)). tm0 = 1 and r_tm come from the extent. Chosen by a
#: search over a dense (ab, rt) grid for the ellipse that best matches the target segments
#: (F1 of area, with >= 90 % of the ellipse inside them), then rounded; :func:`aha_overlap`
#: states the result. The apical infarct is a cap around the apex (ab0 = 0 and an r_rt so
#: large that it spans all rt); its size is set by r_ab alone, as in the paper's Fig. 11.
LOCATIONS: dict[str, tuple[tuple[float, float], tuple[float, float]]] = {
    "septal": ((0.40, 0.73), (0.32, 0.28)),
    "apical": ((0.00, 0.00), (0.40, 5.00)),
    "extensive_anterior": ((0.08, 0.75), (0.95, 0.40)),
    "limited_anterior": ((0.25, 0.48), (0.95, 0.22)),
    "lateral": ((0.55, 0.333), (0.45, 0.175)),
    "inferior": ((0.25, 0.00), (0.95, 0.22)),
    "inferolateral": ((0.55, 0.15), (0.50, 0.32)),
}



def _record(location: str, extent: str, tissue: Tissue, *, size: float = 1.0, name: str,
            variant_of: str | None = None) -> ScenarioRecord:
    (ab0, rt0), (r_ab, r_rt) = LOCATIONS[location]
    inf = Infarct(centre=(1.0, ab0, rt0), radii=(EXTENTS[extent], r_ab, r_rt), scar_factor=tissue.scar_factor,
                  bz_factor=tissue.bz_factor, name=name).scaled(size, size)
    return ScenarioRecord(name, inf, location=location, extent=extent, size=size, tissue=tissue.name,
                          variant_of=variant_of)


def paper_scenarios(tissue: str | Tissue = "paper") -> ScenarioSet:
    """The paper's 17 scenarios with the speed factors of a tissue preset.

    Parameters
    ----------
    tissue : str or Tissue
        A main preset of :data:`mitwin.tissue.TISSUES` (one with a slow-conduction variant, which the
        17th scenario uses): ``"paper"`` (the paper's) or ``"blocked"``.

    Returns
    -------
    ScenarioSet
        Names ``<location>_<extent>``, ``small_lateral_<extent>``, ``lateral_transmural_slow_cv``.

    Examples
    --------
    >>> s = paper_scenarios("blocked")
    >>> s["septal_transmural"].scar_factor, s.record("lateral_transmural_slow_cv").tissue
    (0.0, 'blocked_slow')
    """
    t = get_tissue(tissue)
    if t.variant is None:
        raise ValueError(f"tissue: expected a preset with a slow-conduction variant ("
                         f"{sorted(n for n, p in TISSUES.items() if p.variant)}), got {t.name!r}")
    slow = get_tissue(t.variant)
    out: list[ScenarioRecord] = []
    for location in LOCATIONS:
        for extent in EXTENTS:
            out.append(_record(location, extent, t, name=f"{location}_{extent}"))
    for extent in EXTENTS:
        out.append(_record("lateral", extent, t, size=SMALL_SIZE, name=f"small_lateral_{extent}"))
    out.append(_record("lateral", "transmural", slow, name="lateral_transmural_slow_cv",
                       variant_of="lateral_transmural"))
    return ScenarioSet(out)


#: The paper's 17 scenarios with the paper's tissue, name -> Infarct (a :class:`ScenarioSet`), in order.
SCENARIOS: ScenarioSet = paper_scenarios("paper")
#: Their names, in order.
SCENARIO_NAMES: tuple[str, ...] = tuple(SCENARIOS)
#: The 16 used for inference (the slow-conduction variant excluded, as in the paper).
INFERENCE_SCENARIOS: tuple[str, ...] = SCENARIOS.inference_names


def scenario_location(name: str) -> str | None:
    """The location of one of the paper's scenarios (``"small_lateral_transmural"`` -> ``"lateral"``), from its
    record; None for other names."""
    return SCENARIOS.record(name).location if name in SCENARIOS else None


# ---------------------------------------------------------------------------------------------
# Reading scenarios: user files and dataset headers
# ---------------------------------------------------------------------------------------------

def _with_fallback(items: Sequence[tuple[str, Mapping[str, Any]]]) -> ScenarioSet:
    """Records from (name, entry) pairs; the one fallback for entries without record fields (module docstring)."""
    records = []
    recorded = set()
    for name, entry in items:
        rec = record_from_dict(name, entry)
        if "variant_of" in entry:
            recorded.add(name)
        if name in SCENARIOS and not any(k in entry for k in ("location", "extent", "size")):
            paper = SCENARIOS.record(name)
            rec = ScenarioRecord(name, rec.infarct, location=paper.location, extent=paper.extent, size=paper.size,
                                 variant_of=rec.variant_of, params=rec.params)
        records.append(rec)
    return ScenarioSet(derive_variants(records, known=recorded))


def scenarios_from_json(scenario_names: Sequence[str], scenarios_json: str | Mapping[str, Any] | list | None
                        ) -> ScenarioSet:
    """The scenario records of a dataset, from its header.

    Parameters
    ----------
    scenario_names : sequence of str
        The dataset's scenario names; ``"baseline"`` is skipped.
    scenarios_json : str, mapping or list
        The header's ``scenarios_json``: name -> entry (:meth:`ScenarioRecord.to_dict`, or only the infarct's
        parameters in files written before records), or a list of entries each with a ``"name"``.

    Returns
    -------
    ScenarioSet
        In the order of ``scenario_names``. Entries without record fields follow the module's fallback.

    Raises
    ------
    DatasetError
        When the JSON is invalid or a scenario has no parameters and is not one of the paper's.
    """
    if isinstance(scenarios_json, str):
        try:
            data: Any = json.loads(scenarios_json) if scenarios_json.strip() else {}
        except json.JSONDecodeError as exc:
            raise DatasetError(f"scenarios_json: not valid JSON ({exc})") from exc
    else:
        data = scenarios_json if scenarios_json is not None else {}
    if isinstance(data, list):
        data = {str(p.get("name")): p for p in data if isinstance(p, Mapping)}
    if not isinstance(data, Mapping):
        raise DatasetError(f"scenarios_json: expected a JSON object name -> parameters, got {type(data).__name__}")
    items: list[tuple[str, Mapping[str, Any]]] = []
    for name in scenario_names:
        if name == "baseline":
            continue
        entry = data.get(name)
        if entry is None and name in SCENARIOS:
            entry = SCENARIOS[name].to_dict()
        if not isinstance(entry, Mapping):
            raise DatasetError(f"scenarios_json: no parameters for scenario {name!r}; expected an object with "
                               "centre and radii")
        items.append((name, entry))
    try:
        return _with_fallback(items)
    except ValueError as exc:
        raise DatasetError(f"scenarios_json: {exc}") from exc


def as_scenario_set(scenarios: Mapping[str, Infarct]) -> ScenarioSet:
    """A :class:`ScenarioSet` from a plain mapping name -> Infarct (records by the module's fallback); a
    ScenarioSet is returned as it is."""
    if isinstance(scenarios, ScenarioSet):
        return scenarios
    if not isinstance(scenarios, Mapping) or not all(isinstance(v, Infarct) for v in scenarios.values()):
        raise ValueError(f"scenarios: expected a mapping name -> Infarct, got {type(scenarios).__name__}")
    return _with_fallback([(n, inf.to_dict()) for n, inf in scenarios.items()])


def load_scenarios(json_path: str | Path) -> ScenarioSet:
    """Read user scenarios from a JSON file.

    The file holds an object ``{name: {"centre": [tm0, ab0, rt0], "radii": [r_tm, r_ab, r_rt],
    "bz_radii": [...], "scar_factor": 0.1, "bz_factor": 0.5}}`` (bz_radii and the factors are
    optional), or a list of such objects each with a ``"name"``. Names must be unique,
    non-empty, and may not be ``"baseline"``. An entry may also carry the record fields
    ``location``, ``extent``, ``size``, ``tissue``, ``variant_of`` and ``params``
    (:class:`ScenarioRecord`); without them the module's fallback applies.

    Returns
    -------
    ScenarioSet
        name -> Infarct, in file order, with the records.
    """
    path = Path(json_path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"json_path: could not read scenarios from {path}: {exc}") from exc
    if isinstance(data, list):
        items = []
        for i, entry in enumerate(data):
            if not isinstance(entry, Mapping) or "name" not in entry:
                raise ValueError(f"json_path: entry {i} of {path} must be an object with a 'name'")
            items.append((str(entry["name"]), {k: v for k, v in entry.items() if k != "name"}))
    elif isinstance(data, Mapping):
        items = [(str(k), v) for k, v in data.items()]
    else:
        raise ValueError(f"json_path: expected a JSON object or list in {path}, got {type(data).__name__}")
    seen: set[str] = set()
    for name, params in items:
        if name in seen:
            raise ValueError(f"json_path: scenario {name!r} appears twice in {path}")
        if name == "baseline" or not name:
            raise ValueError(f"json_path: {name!r} is not a valid scenario name (reserved or empty)")
        if not isinstance(params, Mapping):
            raise ValueError(f"scenario {name!r}: expected a mapping of parameters, got {type(params).__name__}")
        seen.add(name)
    if not items:
        raise ValueError(f"json_path: no scenarios in {path}")
    return _with_fallback(items)


def _fmt(x: float) -> str:
    return f"{x:g}" if abs(x) < 100 else f"{x:.3g}"


def scenario_table(reference: str | Path | None = None, extra: str | Path | None = None,
                   tissue: str | Tissue = "paper") -> str:
    """The scenario table as Markdown: centres, radii, speed factors and the AHA overlap.

    Parameters
    ----------
    reference : path, optional
        A subject mesh (``Heart.load``); adds each scenario's scar and BZ volume there, in mL
        (node volume = a quarter of the adjacent tets' volumes).
    extra : path, optional
        A JSON file of user scenarios (:func:`load_scenarios`) appended to the table.
    tissue : str or Tissue
        Tissue preset of the paper's scenarios (:func:`paper_scenarios`).

    Returns
    -------
    str
    """
    scenarios: dict[str, ScenarioRecord] = {r.name: r for r in paper_scenarios(tissue).records}
    if extra is not None:
        user = load_scenarios(extra)
        clash = set(user) & set(scenarios)
        if clash:
            raise ValueError(f"extra: scenario names {sorted(clash)} already exist")
        scenarios.update({r.name: r for r in user.records})
    mesh = None  # (heart, node volumes in mm^3)
    if reference is not None:
        from .anatomy.heart import Heart

        heart = Heart.load(reference)
        mesh = (heart, node_volumes(heart.points, heart.tets))
    header = ["scenario", "centre (tm, ab, rt)", "radii (tm, ab, rt)", "BZ radii", "scar/BZ speed",
              "Nikus segments", "scar in them", "segments touched"]
    if mesh is not None:
        header += ["scar mL", "BZ mL"]
    rows = []
    for name, rec in scenarios.items():
        inf, location = rec.infarct, rec.location
        speed = f"{inf.scar_factor:g} / {inf.bz_factor:g}" + (f" ({rec.tissue})" if rec.tissue else "")
        row = [name, "(" + ", ".join(_fmt(c) for c in inf.centre) + ")",
               "(" + ", ".join(_fmt(r) for r in inf.radii) + ")", "(" + ", ".join(_fmt(r) for r in inf.bz) + ")",
               speed]
        if location in TARGET_SEGMENTS:
            targets = TARGET_SEGMENTS[location]
            ov = aha_overlap(inf, targets)
            missed = [s for s in targets if s not in ov.touched]
            row += [",".join(map(str, targets)), f"{100 * ov.in_target:.0f} %",
                    ",".join(map(str, ov.touched)) + (f" (not {','.join(map(str, missed))})" if missed else "")]
        else:
            row += ["-", "-", "-"]
        if mesh is not None:
            heart, vols = mesh
            lab = inf.labels(heart.tm, heart.ab, heart.rt, heart.tv)
            row += [f"{vols[lab == SCAR].sum() / 1000:.1f}", f"{vols[lab == BORDER_ZONE].sum() / 1000:.1f}"]
        rows.append(row)
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    lines = ["| " + " | ".join(h.ljust(w) for h, w in zip(header, widths)) + " |",
             "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    lines += ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |" for r in rows]
    notes = ["", "Scar: Eq. (1) ellipsoid; BZ: the larger ellipsoid minus the scar; LV region only.",
             "Segments after Nikus et al. 2014; 'scar in them' on a uniform (tm, ab, rt) grid of the LV; a "
             "segment counts as touched when >= 5 % of its endocardial area is scar."]
    if mesh is not None and reference is not None:
        heart, vols = mesh
        notes.append(f"Volumes on {Path(reference).name} ({heart.n_nodes} nodes, "
                     f"myocardium {vols.sum() / 1000:.0f} mL).")
    return "\n".join(lines + notes)
