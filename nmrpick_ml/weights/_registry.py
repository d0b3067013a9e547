"""SHA-256 of the shipped weights, checked by ``load_model`` before loading.

Updated by ``nmrpick_ml.train.export_weights`` and ``nmrpick_ml.onnx_export.ship_onnx``; do not edit by hand.
"""

SHA256 = {"maskrcnn.onnx": "a389a0a2539faad7dcff678b65e737ecd233e930e4c9d31837307ccbfcc8ba35", "maskrcnn.pt": "844330b539e90798c778ae05bb7f2b8a82e9d637f8cd8670cb1a6f81090e8945"}
