"""Evaluation: cell specs, the declarative grid, scoring, the row store and per-image outcomes, the evaluator and grid
runner, the per-image ensemble, sanity checks, restoration table, protocols, mechanism and convergence studies. Import
the submodules; this package imports nothing on its own."""
