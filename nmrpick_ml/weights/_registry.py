"""SHA-256 of the shipped weights, checked by ``load_model`` before loading.

Updated by ``nmrpick_ml.train.export_weights`` and ``nmrpick_ml.onnx_export.ship_onnx``; do not edit by hand.
"""

SHA256 = {"maskrcnn.onnx": "0b887ac4a80e96460c15704741ab0613e075e2518b8ef896505fb0b9a03ef755", "maskrcnn.pt": "844330b539e90798c778ae05bb7f2b8a82e9d637f8cd8670cb1a6f81090e8945"}
