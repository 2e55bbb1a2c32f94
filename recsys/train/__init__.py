"""Training: objectives over whole-tensor batches, the loop, checkpoints, and one-call runs."""
