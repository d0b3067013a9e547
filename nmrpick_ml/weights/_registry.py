"""SHA-256 of the shipped weights, checked by ``load_model`` before loading.

Updated by ``nmrpick_ml.train.export_weights``; do not edit by hand.
"""

SHA256 = {"maskrcnn.pt": "844330b539e90798c778ae05bb7f2b8a82e9d637f8cd8670cb1a6f81090e8945"}
