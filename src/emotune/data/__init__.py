"""Datasets, label sets, cleaning, splits, audit and EDA: the first stop of the data's path."""
