"""The deep models (torch is imported only in this package): the dual-branch VAE + inference model, and the
Cobiveco network (:mod:`mitwin.model.cobiveco_net`, trained by :mod:`mitwin.model.cobiveco_train`)."""
