"""deepstar: planner."""
