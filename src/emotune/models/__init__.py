"""Classifier backends behind one protocol, the registry that names them, and the model zoo."""
