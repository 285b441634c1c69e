"""The exported classifiers (ONNX graphs, written by the export stage) run with onnxruntime."""

from __future__ import annotations


def onnx_session(path: str, threads: int = 1):
    """An onnxruntime session on the CPU with ``threads`` threads (what a trigger node gives one model)."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])
