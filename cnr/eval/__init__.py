"""The grid engine below the runner (cnr.grid): the evaluator, scoring over fresh draws, the row store and per-image
outcomes. Results analysis is cnr.analysis, side studies cnr.studies, the declarative grid cnr.cells; the modules
here named after those are re-exports for one release. Import the submodules; this package imports nothing itself."""
