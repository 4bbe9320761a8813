"""Latent-space augmentation of BigGAN images: pixel-space reference edits (`transforms`), learned
walks that reproduce them in z (`walks`), per-image edits when no walk exists (`per_image`), galleries
and folder runs (`gallery`), and measuring objects in generated images to check the walks (`measure`)."""
