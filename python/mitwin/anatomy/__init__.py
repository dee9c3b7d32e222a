"""Anatomy: the Heart, Cobiveco-style coordinates, fibres, AHA segments, electrodes, cohort, point clouds."""
