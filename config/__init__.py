"""Default settings of the training scripts (the command line overrides them)."""
