"""Thin typer wrappers over emotune's functions: parse, call, print."""
