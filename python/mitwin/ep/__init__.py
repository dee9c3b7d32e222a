"""Electrophysiology: activation times and the pseudo-ECG."""
