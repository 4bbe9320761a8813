"""Inversion: finding the latent whose generation matches a target image."""
