"""Side studies beside the grid: convergence of the attacks, the restoration table, the mechanism measurements."""
