"""deepstar: reasoner."""
