"""The Markdown report of the QRS sensitivity analysis: findings in numbers, side by side with the paper.

:func:`build_report` composes the report from a :class:`~mitwin.analysis.result.SensitivityResult`: one
small function per finding of Sec. IV-B of Li et al. (IEEE TMI 2024; their statements and numbers are in
:mod:`mitwin.paper`), then one per section. Scenarios are grouped by the fields of their records
(location, extent, size, variant), never by their names.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..ep.leads import LEADS
from ..paper import EXTENT_EXCEPTION, LARGEST_ALTERATIONS, PAPER_QRS_MS, PAPER_SLOW_CV_MS, PRWP_LOCATIONS
from ..scenario_records import ScenarioRecord
from ..tissue import TISSUES
from .result import NORMALISATION_TEXT, SensitivityResult

__all__ = ["build_report"]

Row = list[str]


def _ms(x: np.ndarray) -> str:
    x = np.asarray(x, dtype=np.float64)
    sd = x.std(ddof=1) if x.size > 1 else 0.0
    m = float(x.mean())
    if abs(m) >= 10:
        return f"{m:.1f} ± {sd:.1f}"
    if abs(m) >= 1:
        return f"{m:.2f} ± {sd:.2f}"
    return f"{m:.3f} ± {sd:.3f}"


def _yes(flag: bool | None) -> str:
    return "n/a" if flag is None else ("yes" if flag else "**no**")


def _table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def _per_subject_avg(res: SensitivityResult) -> np.ndarray:
    """(n_subjects, S-1) DTW^avg to the baseline."""
    return res.to_base.mean(axis=2)


def _extent_pairs(records: Sequence[ScenarioRecord]) -> dict[tuple[str, float | None], dict[str, int]]:
    """(location, size) -> extent -> record index, for located scenarios that are not tissue variants."""
    out: dict[tuple[str, float | None], dict[str, int]] = {}
    for k, r in enumerate(records):
        if r.variant_of is None and r.location is not None and r.extent is not None:
            out.setdefault((r.location, r.size), {})[r.extent] = k
    return out


def _lateral_sizes(records: Sequence[ScenarioRecord]) -> dict[str, dict[str, int]]:
    """extent -> {"small": k, "large": k}: the lateral scenarios of each extent with the smallest and the
    largest scar (r_ab x r_rt), tissue variants excluded."""
    out: dict[str, dict[str, int]] = {}
    for ext in ("subendocardial", "transmural"):
        ks = [k for k, r in enumerate(records) if r.location == "lateral" and r.extent == ext and r.variant_of is None]
        if len(ks) < 2:
            continue
        ks.sort(key=lambda k: records[k].infarct.radii[1] * records[k].infarct.radii[2])
        out[ext] = {"small": ks[0], "large": ks[-1]}
    return out


# ------------------------------------------------------------------------------------------------ findings
def _finding_largest(res: SensitivityResult) -> Row:
    avg = _per_subject_avg(res).mean(axis=0)
    order = sorted(res.main, key=lambda k: -avg[k])[:3]
    hit = sum(res.records[k].location in LARGEST_ALTERATIONS for k in order)
    return ["Largest alterations", "inferolateral, extensive anterior, apical transmural",
            ", ".join(f"{res.labels[k]} ({avg[k]:.2f})" for k in order),
            (_yes(hit >= 2) + f" ({hit}/3 of the paper's locations)") if len(order) >= 3 else "n/a"]


def _finding_extent(res: SensitivityResult) -> Row:
    avg = _per_subject_avg(res).mean(axis=0)
    pairs = [d for d in _extent_pairs(res.records).values() if len(d) == 2]
    more = [avg[d["transmural"]] > avg[d["subendocardial"]] for d in pairs]
    n = len(pairs)
    return ["Transmural > subendocardial", f"at every location except {EXTENT_EXCEPTION.replace('_', ' ')}",
            f"{sum(more)} of {n} locations", _yes(sum(more) >= n - 1 if n else None)]


def _finding_lateral_size(res: SensitivityResult) -> Row:
    avg = _per_subject_avg(res).mean(axis=0)
    lat = _lateral_sizes(res.records)
    text = [f"{ext}: small {avg[d['small']]:.2f} vs large {avg[d['large']]:.2f}" for ext, d in lat.items()]
    ok = [avg[d["small"]] < avg[d["large"]] for d in lat.values()]
    return ["Small lateral < large lateral", "yes, especially subendocardial", "; ".join(text) or "n/a",
            _yes(all(ok) if ok else None)]


def _finding_location_vs_extent(res: SensitivityResult) -> Row | None:
    groups = _extent_pairs(res.records)
    pavg = res.pairs_avg
    same_loc = [pavg[:, d["transmural"] + 1, d["subendocardial"] + 1] for d in groups.values() if len(d) == 2]
    diff_loc = []
    for ext in ("transmural", "subendocardial"):
        ks = [d[ext] for d in groups.values() if ext in d]
        diff_loc += [pavg[:, ks[i] + 1, ks[j] + 1] for i in range(len(ks)) for j in range(i + 1, len(ks))]
    if not same_loc or not diff_loc:
        return None
    a, b = float(np.mean(same_loc)), float(np.mean(diff_loc))
    return ["Location matters more than extent", "DTW between locations > between extents",
            f"DTW^avg same location, other extent {a:.2f}; other location, same extent {b:.2f}", _yes(b > a)]


def _finding_durations(res: SensitivityResult) -> list[Row]:
    durs, rows = res.durations, []
    base = durs[:, 0]
    for location in ("apical", "inferolateral"):
        ks = [k for k in res.main if res.records[k].location == location]
        if not ks:
            continue
        both = durs[:, [k + 1 for k in ks]]
        per_ext = "; ".join(f"{res.records[k].extent or res.records[k].name}: {_ms(durs[:, k + 1])}" for k in ks)
        paper = f"{PAPER_QRS_MS[location]} vs {PAPER_QRS_MS['normal']} normal"
        rows.append([f"QRS duration, {location} MI (ms)", paper, f"{_ms(both)} ({per_ext}) vs {_ms(base)} baseline",
                     _yes(both.mean() > base.mean())])
    return rows


def _finding_slow_cv(res: SensitivityResult) -> list[Row]:
    durs, rows = res.durations, []
    index = {r.name: k for k, r in enumerate(res.records)}
    for ks, r in enumerate(res.records):
        if r.variant_of is None or r.variant_of not in index:
            continue
        kf = index[r.variant_of]
        where = r.label if r.location is None else r.location.replace("_", " ")
        rows.append([f"Slow CV lengthens QRS ({where}, {r.tissue or 'custom'} tissue, ms)",
                     f"{PAPER_SLOW_CV_MS['slow_cv']} vs {PAPER_SLOW_CV_MS['normal_cv']}",
                     f"{_ms(durs[:, ks + 1])} vs {_ms(durs[:, kf + 1])}",
                     _yes(durs[:, ks + 1].mean() > durs[:, kf + 1].mean())])
    return rows


def _finding_prwp(res: SensitivityResult) -> Row:
    prwp = res.biomarker("prwp").mean(axis=0)
    top = sorted(res.main, key=lambda k: -prwp[k + 1])[:3]
    paper = ", ".join(loc.replace("_", " ") for loc in PRWP_LOCATIONS)
    return ["PRWP mostly in", paper, ", ".join(f"{res.labels[k]} ({100 * prwp[k + 1]:.0f} %)" for k in top)
            + f"; baseline {100 * prwp[0]:.0f} %", "see table"]


def _finding_pathological_q(res: SensitivityResult) -> Row:
    pq = res.biomarker("pathological_q").mean(axis=0)
    return ["Pathological Q separates MI from normal", "no (failed in their simulations)",
            f"baseline {100 * pq[0]:.0f} %, MI scenarios {100 * pq[1:].mean():.0f} % on average "
            "(agreement: prevalences within 25 points)", _yes(abs(pq[1:].mean() - pq[0]) < 0.25)]


def _finding_fqrs(res: SensitivityResult) -> Row:
    fq = np.array([res.biomarker(f"fqrs_{ld}")[:, 1:].mean() for ld in LEADS])
    return ["fQRS more common in II than V3-V4 and V5-V6", "yes",
            f"II {100 * fq[1]:.0f} %, V3-V4 {100 * fq[4:6].mean():.0f} %, V5-V6 {100 * fq[6:8].mean():.0f} %"
            " (MI scenarios)", _yes(fq[1] > fq[4:6].mean() and fq[1] > fq[6:8].mean())]


def findings(res: SensitivityResult) -> list[Row]:
    """The rows of the findings table: finding, paper, here, agrees."""
    rows = [_finding_largest(res), _finding_extent(res), _finding_lateral_size(res)]
    loc = _finding_location_vs_extent(res)
    if loc is not None:
        rows.append(loc)
    rows += _finding_durations(res) + _finding_slow_cv(res)
    rows += [_finding_prwp(res), _finding_pathological_q(res), _finding_fqrs(res)]
    return rows


# ------------------------------------------------------------------------------------------------ sections
def _section_header(res: SensitivityResult) -> list[str]:
    band = "none" if res.band is None else f"{res.band} samples beyond the length difference"
    t = TISSUES.get(res.tissue or "")
    tissue = (f"tissue `{t.name}`: {t.description}" if t is not None
              else "custom or mixed tissue (see the scenario records)")
    return ["# QRS sensitivity analysis\n",
            f"Dataset `{res.dataset.name}`: {res.n_subjects} subject(s), {len(res.names) - 1} infarct scenarios + "
            f"baseline; {tissue}. DTW per lead between QRS complexes {NORMALISATION_TEXT[res.normalisation]}: "
            "squared local cost, accumulated cost divided by n + m, square root, "
            f"plus the duration penalty w·(n−m)²/min(n, m) with w = {res.penalty:g} (Camps et al. 2021); "
            f"Sakoe-Chiba band {band}. Values are mean ± sd over subjects. DTW^avg and DTW^max are the mean and "
            "the maximum over the 8 leads.\n",
            "Tables: `dtw_to_baseline.csv`, `dtw_to_baseline_summary.csv`, `dtw_pairs.csv`, `dtw_pairs_max.csv`, "
            "`dtw_pairs_avg.csv`, `biomarkers.csv`, `biomarkers_summary.csv`"
            + (", `apical_sizes.csv`" if res.apical_rows else "") + ".\n"]


def _section_findings(res: SensitivityResult) -> list[str]:
    return ["## Findings: paper vs this dataset\n",
            _table(["Finding", "Paper (Li et al., Sec. IV-B)", "Here", "Agrees"], findings(res)) + "\n",
            "Where the two disagree, likely causes are the simulation's simplifications (idealised "
            "biventricular geometries, seven fixed root nodes, Eikonal activation, a pseudo-ECG without torso "
            "heterogeneity), the tissue model (the paper's scar conducts slowly; a blocked scar is silent) and "
            "the DTW and biomarker definitions stated here, which need not match the paper's exactly; nothing "
            "here is tuned towards the paper's numbers.\n"]


def _section_dtw_to_baseline(res: SensitivityResult, fig: Path) -> list[str]:
    psa = _per_subject_avg(res)
    avg = psa.mean(axis=0)
    rows = []
    for k in sorted(range(len(res.records)), key=lambda k: -avg[k]):
        m = (res.to_base[:, k, :] - res.duration_terms[:, k, None]).mean(axis=0)  # shape part, per lead
        lead_order = np.argsort(-m)
        strong = [LEADS[j] for j in lead_order if m[j] >= 0.75 * m[lead_order[0]]]
        rows.append([res.labels[k], _ms(psa[:, k]), _ms(res.to_base.max(axis=2)[:, k]),
                     f"{res.duration_terms[:, k].mean():.3g}", ", ".join(strong)])
    return ["## DTW to the baseline (Fig. 7a)\n", f"![DTW to baseline]({fig.name})\n",
            _table(["Scenario", "DTW^avg to baseline", "DTW^max to baseline", "of which duration term",
                    "Leads carrying it (shape DTW ≥ 75 % of its top lead)"], rows) + "\n",
            "Paper: most locations show in leads I, V5 and V6; septal MI in V1-V4 (subendocardial) and V3-V4 "
            "(transmural); larger scars change more leads.\n"]


def _section_extent(res: SensitivityResult) -> list[str]:
    psa = _per_subject_avg(res)
    avg = psa.mean(axis=0)
    rows = []
    for (location, size), d in _extent_pairs(res.records).items():
        if len(d) < 2:
            continue
        kt, ks = d["transmural"], d["subendocardial"]
        frac = float(np.mean(psa[:, kt] > psa[:, ks]))
        name = ("small " if size is not None and size < 1.0 else "") + location.replace("_", " ")
        rows.append([name, _ms(psa[:, ks]), _ms(psa[:, kt]), f"{avg[kt] / avg[ks]:.2f}" if avg[ks] > 0 else "inf",
                     f"{100 * frac:.0f} %", "yes" if avg[kt] > avg[ks] else "**no**"])
    return ["## Transmural vs subendocardial, per location\n",
            _table(["Location", "subendo DTW^avg", "transmu DTW^avg", "ratio", "subjects transmu > subendo",
                    "transmu larger"], rows) + "\n"]


def _section_biomarkers(res: SensitivityResult, figures: dict[str, Path]) -> list[str]:
    all_labels = ["baseline", *res.labels]
    pq, prwp, fqrs = (res.biomarker(c) for c in ("pathological_q", "prwp", "fqrs"))
    rows = [[all_labels[s], _ms(res.durations[:, s]), f"{100 * pq[:, s].mean():.0f}", f"{100 * prwp[:, s].mean():.0f}",
             f"{100 * fqrs[:, s].mean():.0f}",
             " / ".join(f"{res.biomarker(f'r_{ld}')[:, s].mean():.2f}" for ld in LEADS[2:])]
            for s in range(len(all_labels))]
    return ["## QRS duration and biomarkers\n", f"![QRS duration]({figures['qrs_duration'].name})\n",
            f"![Biomarker prevalence]({figures['biomarkers'].name})\n",
            _table(["Scenario", "QRS (ms)", "path. Q %", "PRWP %", "fQRS %", "R V1/V2/V3/V4/V5/V6"], rows) + "\n",
            "Criteria (see `mitwin.analysis.biomarkers`): pathological Q = Q ≥ 30 ms or Q/R > 0.25 (or QS); "
            "PRWP = R(V3) ≤ 0.15 (normalised units) or R falling by > 0.02 between V1..V4; "
            "fQRS = an extra R wave or a notch of ≥ 5 % of the lead's peak; the Q and fQRS findings need 2 "
            "contiguous leads (V1-V2-...-V6 chain and I-V6).\n"]


def _section_apical(rows: Sequence[dict], fig: Path) -> list[str]:
    radii = sorted({float(r["r_ab"]) for r in rows}, reverse=True)

    def col(key: str, rad: float) -> str:
        return _ms(np.array([r[key] for r in rows if r["r_ab"] == rad]))

    table = [[f"{rad:g}", col("dtw_avg", rad), col("dtw_max", rad), col("qrs_duration_ms", rad)] for rad in radii]
    return ["## Shrinking apical MI (Fig. 11a)\n", f"![Apical sizes]({fig.name})\n",
            _table(["r_ab", "DTW^avg", "DTW^max", "QRS (ms)"], table) + "\n",
            "Paper: the QRS change shrinks with the infarct; the inverse model still found scars down to "
            "r_ab = 0.1.\n"]


def build_report(result: SensitivityResult, figures: dict[str, Path]) -> str:
    """Compose ``report.md`` from a sensitivity result and its figures (:func:`mitwin.analysis.figures.make_all`).

    Parameters
    ----------
    result : SensitivityResult
    figures : name -> path of the figures (``fig7a``, ``fig7b``, ``fig8``, ``qrs_duration``, ``biomarkers``,
        ``fig11a`` with apical rows)

    Returns
    -------
    str
        Markdown.
    """
    parts = _section_header(result) + _section_findings(result)
    parts += _section_dtw_to_baseline(result, figures["fig7a"]) + _section_extent(result)
    parts += ["## DTW between scenarios (Fig. 7b)\n", f"![DTW between scenarios]({figures['fig7b'].name})\n",
              "## QRS overlays (Fig. 8)\n", f"![QRS overlay]({figures['fig8'].name})\n"]
    parts += _section_biomarkers(result, figures)
    if result.apical_rows:
        parts += _section_apical(result.apical_rows, figures["fig11a"])
    return "\n".join(parts)
