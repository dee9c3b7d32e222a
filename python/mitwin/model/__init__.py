"""The dual-branch VAE + inference model (torch is imported only in this package)."""
