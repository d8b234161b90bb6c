"""Reporting: everything here reads only the results tables (style, row selection, tables, figures, sentences)."""
