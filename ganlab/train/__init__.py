"""Training the bundled demo generators (and, later, encoders) on procedurally rendered data."""
