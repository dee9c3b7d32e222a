"""Inverse inference beyond the paper's templates: random infarcts, a per-patient simulation-based fit
with an approximate posterior, its benchmark and its calibration.

Modules
-------
prior
    The infarct prior: random ellipsoid infarcts (continuous centre, radii, transmural extent), irregular
    and two-infarct variants, each recorded as plain data (:func:`random_infarcts`).
simulator
    Label fields -> QRS on one heart through the one forward model, and the QRS shape distance.
smc
    A likelihood-tempered SMC sampler with a Gaussian ABC kernel (posterior and evidence).
fit
    :func:`fit_infarct` and its result :class:`InfarctFit`.
benchmark, calibration, report, figures
    The random-infarct benchmark with its baselines, coverage and reliability, its tables, the PNG figures.
command, demo
    ``mitwin fit`` (VTU, JSON, PNG) and the inverse stage of ``mitwin demo``.
training_set
    Training sets of random infarcts drawn per subject (healthy heart included), in the dataset layout, for
    the amortised models of :mod:`mitwin.model` (``cobiveco_net``, the dual VAE).
"""
