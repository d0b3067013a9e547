"""The Mask R-CNN: build it, normalise its input, load and save its weights.

The network is torchvision's ``MaskRCNN`` sized for 128x128 tiles of peaks
1.5-20 points wide on a CPU: ResNet-18 layers 1-3 (trainable batch-norm) under
a 64-channel FPN with an extra max-pool level, anchors of 3/6/12/24 points,
light box and mask heads. No pretrained weights are used or downloaded.

Torch is imported when this module is imported; the rest of the package
imports it lazily.
"""

from __future__ import annotations

import os

import torch

from ._errors import ModelIntegrityError, NmrpickError
from ._validate import check_arch
from .normalise import noise_scale, normalise  # noqa: F401  (re-exported: train.py uses them)
from .resample import LW_HIGH, LW_LOW, LW_TARGET
from .shipped import check_shipped, model_config, sha256_file, weights_path

__all__ = ["ARCH", "ARCH_V2", "ARCHS", "LINEWIDTHS", "build_model", "normalise", "noise_scale",
           "load_network", "load_model", "save_weights", "torch_device", "weights_path", "model_config", "TILE"]

TILE = 128

#: Default architecture settings; they are saved in ``weights/config.json``.
ARCH = dict(
    fpn_channels=64,
    anchor_sizes=[3, 6, 12, 24],
    aspect_ratios=[0.5, 1.0, 2.0],
    box_head=256,
    mask_layers=[64, 64],
    box_batch_size_per_image=128,
    detections_per_img=100,
    box_nms_thresh=0.3,
    rpn_pre_nms_top_n_test=400,
    rpn_post_nms_top_n_test=150,
    tile=TILE,
    stem_level=False,
    min_box=4.0,
)

#: Model v2: a stride-2 level from the ResNet stem (before the max-pool) under
#: the FPN, so that peaks of 1-3 points get features and anchors of their own
#: size (2 points) without resampling; 48 FPN channels keep the cost per tile
#: near v1's; wider aspect ratios for 1H multiplets. Chosen by measurement
#: (``nmrpick_ml/weights/MODEL_CARD.md``).
ARCH_V2 = dict(
    ARCH,
    fpn_channels=48,
    anchor_sizes=[2, 4, 8, 16, 32],
    aspect_ratios=[0.25, 0.5, 1.0, 2.0, 4.0],
    stem_level=True,
    min_box=2.0,
    # inference only: 200 proposals per level before the RPN's NMS (5 levels) instead of
    # 400: the same tile benchmark at step 16735 (bench --model --n 200), the same
    # detections on the speed spectrum's 100 first tiles, ~8 % less ONNX time per tile
    rpn_pre_nms_top_n_test=200,
)
ARCHS = {"v1": ARCH, "v2": ARCH_V2}

#: The linewidths (points) each architecture is used at without resampling,
#: written into ``config.json`` as ``linewidths`` (:func:`nmrpick_ml.resample.linewidth_range`).
#: v1 (stride 4, 4-point target boxes) needs lines of 2.5-16 points; v2 learnt the
#: processed recipe's lines of 0.5-3 points as they are (its stride-2 level and
#: 2-point anchors), so it never resamples up, and its 32-point anchors reach 24.
LINEWIDTHS = {"v1": dict(low=LW_LOW, high=LW_HIGH, target=LW_TARGET),
              "v2": dict(low=0.0, high=24.0, target=4.0)}


def build_model(arch=None):
    """Build the (untrained) Mask R-CNN.

    Parameters
    ----------
    arch : dict, optional
        Overrides of :data:`ARCH`.

    Returns
    -------
    torchvision.models.detection.MaskRCNN
        Two classes (background, peak); inputs are 3-channel float tensors
        already normalised with :func:`normalise` (image mean 0, std 1, no resize).
    """
    from torchvision.models import resnet18
    from torchvision.models.detection import MaskRCNN
    from torchvision.models.detection.anchor_utils import AnchorGenerator
    from torchvision.models.detection.backbone_utils import BackboneWithFPN
    from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
    from torchvision.models.detection.mask_rcnn import MaskRCNNHeads, MaskRCNNPredictor
    from torchvision.ops import MultiScaleRoIAlign
    from torchvision.ops.feature_pyramid_network import LastLevelMaxPool

    a = dict(ARCH, **(arch or {}))
    c = a["fpn_channels"]
    body = resnet18(weights=None)  # plain nn.BatchNorm2d: trained, not frozen
    layers = (["relu"] if a["stem_level"] else []) + ["layer1", "layer2", "layer3"]
    chans = {"relu": 64, "layer1": 64, "layer2": 128, "layer3": 256}
    backbone = BackboneWithFPN(
        body, return_layers={name: str(i) for i, name in enumerate(layers)},
        in_channels_list=[chans[n] for n in layers], out_channels=c, extra_blocks=LastLevelMaxPool())
    n_levels = len(layers) + 1        # + the max-pool level
    if len(a["anchor_sizes"]) != n_levels:
        raise NmrpickError(f"arch: {len(a['anchor_sizes'])} anchor sizes for {n_levels} feature levels")
    anchors = AnchorGenerator(sizes=tuple((s,) for s in a["anchor_sizes"]),
                              aspect_ratios=(tuple(a["aspect_ratios"]),) * n_levels)
    names = [str(i) for i in range(len(layers))]
    box_pool = MultiScaleRoIAlign(names, output_size=7, sampling_ratio=2)
    mask_pool = MultiScaleRoIAlign(names, output_size=14, sampling_ratio=2)
    model = MaskRCNN(
        backbone, num_classes=None,
        min_size=a["tile"], max_size=a["tile"], image_mean=[0.0] * 3, image_std=[1.0] * 3,
        rpn_anchor_generator=anchors,
        rpn_pre_nms_top_n_test=a["rpn_pre_nms_top_n_test"],
        rpn_post_nms_top_n_test=a["rpn_post_nms_top_n_test"],
        box_roi_pool=box_pool,
        box_head=TwoMLPHead(c * 7 * 7, a["box_head"]),
        box_predictor=FastRCNNPredictor(a["box_head"], 2),
        box_batch_size_per_image=a["box_batch_size_per_image"],
        box_detections_per_img=a["detections_per_img"],
        box_nms_thresh=a["box_nms_thresh"], box_score_thresh=0.05,
        mask_roi_pool=mask_pool,
        mask_head=MaskRCNNHeads(c, a["mask_layers"], 1),
        mask_predictor=MaskRCNNPredictor(a["mask_layers"][-1], a["mask_layers"][-1], 2),
    )
    return model


# ------------------------------------------------------------------ weights


def load_network(path=None, device="cpu"):
    """Load the torch Mask R-CNN with trained weights, in eval mode.

    The engine behind :func:`nmrpick_ml.load_model` with ``engine="torch"``
    (which also validates the config and wraps both in a
    :class:`~nmrpick_ml.picker.Picker`). The network is returned as built:
    nothing is attached to it.

    Parameters
    ----------
    path : str, optional
        A user's own weights file (a ``state_dict`` or a training checkpoint).
        Default: the weights shipped in the package, whose SHA-256 is checked
        against ``weights/_registry.py`` first.
    device : str
        ``"cpu"``, ``"cuda"`` or ``"auto"``.

    Returns
    -------
    network : torchvision.models.detection.MaskRCNN
    config : dict
        The ``config.json`` beside the weights ({} if absent); its ``"arch"``
        built the network (v1 :data:`ARCH` when absent).
    sha256 : str
        SHA-256 of the weights file.

    Raises
    ------
    ModelIntegrityError
        Missing, truncated or tampered weights, or not a state_dict of this model.
    """
    shipped = path is None
    p = os.fspath(weights_path()) if shipped else os.fspath(path)
    if not os.path.isfile(p):
        raise ModelIntegrityError(f"weights file {p} not found"
                                  + ("; reinstall nmrpick-ml" if shipped else ""))
    if os.path.getsize(p) == 0:
        raise ModelIntegrityError(f"weights file {p} is empty")
    sha = check_shipped(p, "maskrcnn.pt") if shipped else sha256_file(p)
    try:
        state = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated zip, not a torch file, pickled objects
        raise ModelIntegrityError(f"weights {p} cannot be loaded ({type(exc).__name__}: "
                                  f"{_first_line(exc)})") from None
    if isinstance(state, dict) and "model" in state and isinstance(state["model"], dict):
        state = state["model"]  # a training checkpoint
    cfg = model_config(None if shipped else p)
    if not isinstance(cfg, dict):
        raise ModelIntegrityError(f"config.json beside {p} must hold an object; got "
                                  f"{type(cfg).__name__}")
    try:
        network = build_model(check_arch(cfg.get("arch"), ARCH, f"config.json beside {p}"))
    except ModelIntegrityError:
        raise
    except Exception as exc:   # noqa: BLE001 - settings torchvision cannot build
        raise ModelIntegrityError(f"config.json beside {p}: its `arch` cannot build the "
                                  f"network ({type(exc).__name__}: {_first_line(exc)})") from None
    try:
        network.load_state_dict(state)
    except (RuntimeError, TypeError, AttributeError) as exc:
        raise ModelIntegrityError(f"weights {p} do not fit this model "
                                  f"({_first_line(exc)})") from None
    network.eval()
    return network.to(torch_device(device)), cfg, sha


def _first_line(exc, n=120):
    return (str(exc).splitlines() or [""])[0][:n]


def torch_device(device):
    """A ``torch.device`` from "cpu", "cuda[:n]" or "auto" (CUDA when available)."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise NmrpickError(f"`device` must be 'cpu', 'cuda', 'cuda:N' or 'auto'; got "
                           f"{device!r}") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise NmrpickError(f"device {device!r} asked for, but torch sees no CUDA GPU")
    return dev


def save_weights(model, path):
    """Write a model's ``state_dict`` atomically (for shipping or ``--model``)."""
    from .files import atomic_write
    path = os.fspath(path)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    digest = []

    def write(tmp):
        torch.save(state, tmp)
        digest.append(sha256_file(tmp))      # of the bytes written (also inside a transaction)
    atomic_write(path, write)
    return digest[0]


def load_model(path=None, device="cpu"):
    """The torch-engine :class:`~nmrpick_ml.picker.Picker` (see :func:`nmrpick_ml.load_model`)."""
    from . import picker
    return picker.load_model(path, device=device, engine="torch")
