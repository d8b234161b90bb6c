"""Results analysis: reads results tables only (the ensemble, the paired comparison, sanity checks, cnr compare)."""
