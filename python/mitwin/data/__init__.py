"""Datasets: the simulation campaign, its HDF5 store, and the torch Dataset."""
