"""Trigger stage: a trained network exported to ONNX with its menu (``export``), and the menu run as
a Spark Structured Streaming trigger on replayed raw events (``stream``)."""
