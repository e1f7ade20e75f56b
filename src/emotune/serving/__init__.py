"""Prediction, the HTTP API, the web page, feedback storage and ONNX export."""
