"""Export the Mask R-CNN to ONNX: the graph that :class:`~nmrpick_ml.engines.OnnxEngine` runs.

One tile per call: input ``tiles`` (1, 3, H, W) float32 (normalised; H, W
any multiple of 32, the config's tile by default) and ``floor`` (a float32 scalar, the raw score floor); outputs
``boxes`` (m, 4) as ``(x0, y0, x1, y1)`` in tile points, ``scores`` (m,) and
``masks`` (m, 28, 28) mask probabilities of the detections above the floor.
The graph is torchvision's network step by step, as
:class:`~nmrpick_ml.engines.TorchEngine` runs it (the same post-processing,
with the floor as an input), so it is generic over the architecture in the
config (any ``arch`` that :func:`nmrpick_ml.model.build_model` builds).

Needs torch (export time only); ONNX Runtime needs nothing of it.
"""

from __future__ import annotations

import contextlib
import os

import torch

__all__ = ["export_onnx", "ship_onnx", "OPSET"]

#: ONNX opset of the export (measured to reproduce torch's detections).
OPSET = 17


class _TileGraph(torch.nn.Module):
    """One tile through the network with the score floor as an input."""

    def __init__(self, network):
        super().__init__()
        self.network = network

    def forward(self, x, floor):
        from torchvision.models.detection.image_list import ImageList
        from torchvision.models.detection.roi_heads import maskrcnn_inference
        from .engines import postprocess_detections
        net = self.network
        sizes = [(x.shape[-2], x.shape[-1])]      # traced: the graph takes any tile size
        images = ImageList(x, sizes)
        feats = net.backbone(x)
        proposals = _rpn_proposals(net.rpn, images, feats)
        rh = net.roi_heads
        logits, reg = rh.box_predictor(rh.box_head(rh.box_roi_pool(feats, proposals, sizes)))
        boxes, scores, labels = postprocess_detections(rh, logits, reg, proposals, sizes, floor)
        masks = maskrcnn_inference(rh.mask_predictor(rh.mask_head(rh.mask_roi_pool(feats, boxes, sizes))),
                                   labels)
        return boxes[0], scores[0], masks[0][:, 0]


def _rpn_proposals(rpn, images, feats):
    """torchvision's ``RegionProposalNetwork.forward`` at inference, for one image,
    with the box deltas decoded only for the anchors that each level keeps (its
    ``pre_nms_top_n`` best objectness) instead of for every anchor: the same
    proposals. The anchors of those are computed from their indices (the
    position in the level's grid and the cell anchor), never for the whole
    grid. Decoding and making every anchor was about a sixth of a tile's time
    in ONNX Runtime (most with a stride-2 level: 25 anchors at each of 64 x 64
    positions of a 128 tile), and grows with the tile's area.

    The order and the arithmetic are torchvision's (``permute_and_flatten``:
    position-major, anchor-minor; ``grid_anchors``: the shift ``(x, y, x, y)``
    times the level's stride plus the cell anchor; ``BoxCoder.decode_single``;
    ``filter_proposals``), so the network, run by torch
    (:class:`~nmrpick_ml.engines.TorchEngine`, torchvision's own RPN), gives the
    same detections (``tests/test_engines.py``)."""
    from torchvision.models.detection import _utils as det_utils
    from torchvision.ops import boxes as box_ops
    features = list(feats.values())
    logits, deltas = rpn.head(features)
    h, w = images.tensors.shape[-2:]
    gen = rpn.anchor_generator
    gen.set_cell_anchors(features[0].dtype, features[0].device)
    boxes, scores, levels = [], [], []
    for k, (obj, reg, cell) in enumerate(zip(logits, deltas, gen.cell_anchors)):
        _, a, gh, gw = obj.shape                                   # one class: A maps
        ob = obj.permute(0, 2, 3, 1).reshape(1, -1)                # (1, H * W * A)
        rg = reg.view(1, a, 4, gh, gw).permute(0, 3, 4, 1, 2).reshape(-1, 4)
        top, idx = ob.topk(det_utils._topk_min(ob, rpn.pre_nms_top_n(), 1), dim=1)
        idx, top = idx[0], top[0]
        pos = torch.div(idx, a, rounding_mode="floor")
        yy, xx = torch.div(pos, gw, rounding_mode="floor"), pos % gw
        sy, sx = h // gh, w // gw                                  # the level's stride
        shift = torch.stack((xx * sx, yy * sy, xx * sx, yy * sy), dim=1)
        boxes.append(rpn.box_coder.decode_single(rg[idx], shift + cell[idx % a]))
        scores.append(top)
        levels.append(torch.full_like(idx, k))
    boxes, lvl = torch.cat(boxes), torch.cat(levels)
    scores = torch.sigmoid(torch.cat(scores))
    boxes = box_ops.clip_boxes_to_image(boxes, (h, w))
    keep = box_ops.remove_small_boxes(boxes, rpn.min_size)
    boxes, scores, lvl = boxes[keep], scores[keep], lvl[keep]
    keep = torch.where(scores >= rpn.score_thresh)[0]
    boxes, scores, lvl = boxes[keep], scores[keep], lvl[keep]
    keep = box_ops.batched_nms(boxes, scores, lvl, rpn.nms_thresh)[: rpn.post_nms_top_n()]
    return [boxes[keep]]


def _merge_levels(levels, unmerged_results):
    """RoIAlign results of each FPN level back in RoI order, for the traced graph:
    the levels' results concatenated and gathered by the inverse of the order in
    which the levels took the RoIs. The same tensor as torchvision's
    ``_onnx_merge_levels``, which scatters each level into a zero tensor of the
    whole (RoIs x channels x 14 x 14) size (ScatterElements on an index as large
    as the data: about a sixth of a tile's time in ONNX Runtime)."""
    order = torch.cat([torch.where(levels == k)[0] for k in range(len(unmerged_results))])
    inverse = torch.zeros_like(order).scatter(0, order, torch.arange(order.numel()))
    return torch.cat(unmerged_results, 0)[inverse]


@contextlib.contextmanager
def _gather_merge():
    """torchvision's level merge replaced by :func:`_merge_levels` while tracing."""
    from torchvision.ops import poolers
    original = poolers._onnx_merge_levels
    poolers._onnx_merge_levels = _merge_levels
    try:
        yield
    finally:
        poolers._onnx_merge_levels = original


def export_onnx(network, path, tile=128):
    """Write ``network`` (a torchvision Mask R-CNN in eval mode) as ONNX.

    Parameters
    ----------
    network : torchvision.models.detection.MaskRCNN
    path : str
        The ``.onnx`` file, written atomically (a temporary file, then renamed).
    tile : int
        Tile size of the example input (a multiple of 32); the graph takes any
        multiple of 32.

    Returns
    -------
    str
        SHA-256 of the written file (for ``weights/_registry.py``).
    """
    from .files import atomic_write
    from .shipped import sha256_file
    if tile % 32:
        raise ValueError(f"tile must be a multiple of 32 for the ONNX graph; got {tile}")
    network = network.eval()
    graph = _TileGraph(network).eval()
    x = torch.zeros((1, 3, tile, tile), dtype=torch.float32)
    x[0, :, tile // 2 - 2:tile // 2 + 2, tile // 2 - 2:tile // 2 + 2] = 3.0   # a detection to trace
    floor = torch.tensor(0.05, dtype=torch.float32)
    digest = []

    def write(tmp):
        with torch.no_grad(), _gather_merge():
            torch.onnx.export(graph, (x, floor), tmp, opset_version=OPSET, dynamo=False,
                              input_names=["tiles", "floor"],
                              output_names=["boxes", "scores", "masks"],
                              dynamic_axes={"tiles": {2: "height", 3: "width"},
                                            "boxes": {0: "m"}, "scores": {0: "m"},
                                            "masks": {0: "m"}})
        digest.append(sha256_file(tmp))
    atomic_write(os.fspath(path), write)
    return digest[0]


def ship_onnx(dest_dir=None):
    """Re-export the shipped torch weights as ``weights/maskrcnn.onnx``, set the
    config's inference ``tile`` to :data:`~nmrpick_ml._defaults.INFERENCE_TILE`,
    and record the graph's SHA-256 in ``weights/_registry.py`` (beside the other
    entries), together or not at all. ``maskrcnn.pt`` is only read.

    The graph is built from the config's ``arch`` (its RPN and RoI settings:
    ``rpn_pre_nms_top_n_test``, ``rpn_post_nms_top_n_test``,
    ``detections_per_img``). The export that ships a model
    (``train.export_weights``) calls :func:`export_onnx` the same way; this is
    for weights already shipped. Command: ``python -m nmrpick_ml.onnx_export``.

    Returns
    -------
    str
        SHA-256 of the ONNX file.
    """
    import json
    from ._defaults import INFERENCE_TILE
    from .files import atomic_write_text, transaction
    from .model import load_network
    from .shipped import write_registry
    dest_dir = dest_dir or os.path.join(os.path.dirname(__file__), "weights")
    network, cfg, _ = load_network()
    cfg["tile"] = INFERENCE_TILE
    with transaction():
        sha = export_onnx(network, os.path.join(dest_dir, "maskrcnn.onnx"),
                          int((cfg.get("arch") or {}).get("tile", 128)))
        atomic_write_text(os.path.join(dest_dir, "config.json"), json.dumps(cfg, indent=2))
        write_registry(dest_dir, {"maskrcnn.onnx": sha})
    return sha


if __name__ == "__main__":       # python -m nmrpick_ml.onnx_export
    print(f"maskrcnn.onnx sha256 {ship_onnx()}")
