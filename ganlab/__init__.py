"""ganlab: GAN inversion and latent editing, as a library that the app and the CLI share."""

__version__ = "0.1.0"
