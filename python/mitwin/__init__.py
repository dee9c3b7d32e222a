"""mitwin: cardiac digital twins of myocardial infarction.

Anatomy (Cobiveco-style coordinates, fibres, AHA segments, electrodes, a virtual cohort),
fast activation and pseudo-ECG simulation in C++, infarct scenarios, the simulation campaign,
the QRS sensitivity analysis, and the dual-branch VAE that infers scar and border zone from
the QRS and the anatomy.

Public names are imported lazily, so that ``import mitwin`` is cheap and torch is only
imported when the model is used.
"""

from __future__ import annotations

import importlib
from typing import Any

from ._version import __version__

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    # electrophysiology
    "ActivationSolver": "mitwin.ep.activation",
    "activation_times": "mitwin.ep.activation",
    "LeadField": "mitwin.ep.leadfield",
    "QRSOptions": "mitwin.ep.leadfield",
    "ECG": "mitwin.ep.ecg",
    "ECGBatch": "mitwin.ep.ecg",
    "LEADS": "mitwin.ep.ecg",
    "ELECTRODES": "mitwin.ep.ecg",
    "pseudo_ecg": "mitwin.ep.leadfield",
    "qrs_duration": "mitwin.ep.delineation",
    "plot_ecg": "mitwin.ep.ecg_plot",
    "read_ecg": "mitwin.ep.records",
    "extract_qrs": "mitwin.ep.extract",
    "extract_qrs_report": "mitwin.ep.extract",
    "check_ecg": "mitwin.ep.criteria",
    "ECGCriteria": "mitwin.ep.criteria",
    "ConductionParams": "mitwin.ep.conduction_params",
    "RootSite": "mitwin.ep.conduction_params",
    "personalise": "mitwin.personalisation",
    "Personalisation": "mitwin.personalisation",
    "QRSExtraction": "mitwin.ep.extract",
    "plot_extraction": "mitwin.ep.extract_plot",
    "ECGRecordError": "mitwin.ep.records",
    "MissingLeadError": "mitwin.ep.records",
    "simulate": "mitwin.ep.forward",
    "Simulation": "mitwin.ep.forward",
    "prepare": "mitwin.ep.forward",
    # datasets
    "run_campaign": "mitwin.data.campaign",
    # anatomy
    "Heart": "mitwin.anatomy.heart",
    "mesh_surface": "mitwin.anatomy.surface_mesh",
    "make_cohort": "mitwin.anatomy.cohort",
    # infarcts
    "Infarct": "mitwin.infarct",
    "SCENARIOS": "mitwin.infarct",
    "load_scenarios": "mitwin.infarct",
    # inverse inference
    "fit_infarct": "mitwin.inverse.fit",
    "InfarctFit": "mitwin.inverse.fit",
    "random_infarcts": "mitwin.inverse.prior",
    "paper_scenarios": "mitwin.infarct",
    "ScenarioRecord": "mitwin.infarct",
    "ScenarioSet": "mitwin.infarct",
    "TISSUES": "mitwin.tissue",
    # errors
    "MitwinError": "mitwin.errors",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'mitwin' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
