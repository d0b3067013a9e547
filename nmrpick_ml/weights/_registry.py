"""SHA-256 of the shipped weights, checked by ``load_model`` before loading.

Updated by ``nmrpick_ml.train.export_weights`` and ``nmrpick_ml.onnx_export.ship_onnx``; do not edit by hand.
"""

SHA256 = {"maskrcnn.onnx": "056b090f8a6e7ac9f1c5be9d900ec3d55c0388e38d53e9633e4b80edaf4aae6d", "maskrcnn.pt": "5ba2b9cbaed2c06d3969130e403abc99043db791a5af7b6cb0f3f33d430a90e3"}
