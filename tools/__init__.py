"""deepstar: tools."""
