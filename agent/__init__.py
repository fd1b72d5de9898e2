"""deepstar: agent."""
