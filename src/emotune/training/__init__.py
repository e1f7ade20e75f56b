"""Configuration, the trainer that writes run directories, and cross-validation."""
