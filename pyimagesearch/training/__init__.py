"""Training: the shared flags (`flags`), the run folder's life (`run`), the checkpointed
fit loop and evaluation both scripts call (`engine`), and what it relies on: the
LR schedule, mixed precision and data-parallel training."""
