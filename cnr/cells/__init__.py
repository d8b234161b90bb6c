"""The declarative grid: cell specs and the registry of cell groups (what a profile's grid is made of)."""
