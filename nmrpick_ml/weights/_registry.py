"""SHA-256 of the shipped weights, checked by ``load_model`` before loading.

Updated by ``nmrpick_ml.train.export_weights``; do not edit by hand.
"""

SHA256 = {}
