"""Reporting: tables, figures and sentences drawn from the results tables alone (style, row selection by kind and group
flags); `gallery` is the one module that draws images through the models (restoration and adversarial examples)."""
