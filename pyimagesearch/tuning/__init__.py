"""Hyperparameter search with Optuna: the search space, the shared study, trials as ordinary
training runs, and the answers to the four questions (`python -m pyimagesearch.tune`)."""
