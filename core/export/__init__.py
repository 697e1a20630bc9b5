"""``clipbridge export``: write a model as an ONNX folder the onnx backend (and fastembed) load.

An app above the core: the export itself is :func:`clipbridge.models.onnx_export.export_onnx`
(needs torch); this package holds the command. See docs/backends.md.
"""
