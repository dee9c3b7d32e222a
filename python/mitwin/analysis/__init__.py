"""Sensitivity analysis of the QRS: DTW, biomarkers, figures."""
