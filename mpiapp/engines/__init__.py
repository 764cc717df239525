"""Domain engines (scan, and later train, hpo, optbench): config in, kernels called, results out."""
