"""SHA-256 of the shipped weights, checked by ``load_model`` before loading.

Updated by ``nmrpick_ml.train.export_weights`` and ``nmrpick_ml.onnx_export.ship_onnx``; do not edit by hand.
"""

SHA256 = {"maskrcnn.onnx": "5f5a68036616bb55b9a1ebb5e13d5fc266d90ece8f4aa712dcb129c42b42218a", "maskrcnn.pt": "844330b539e90798c778ae05bb7f2b8a82e9d637f8cd8670cb1a6f81090e8945"}
