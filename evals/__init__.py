"""deepstar: evals."""
