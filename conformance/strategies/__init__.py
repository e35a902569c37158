"""Hypothesis strategies for every contract name, one module per family.

Each strategy draws an *example*: a dict mapping argument names to float64
NumPy arrays (rounded to the dtype under test later), integer arrays, or
configuration values (Python numbers, small NumPy arrays exact in every dtype).
"""
