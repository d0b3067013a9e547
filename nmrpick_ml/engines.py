"""Engines: run the network on normalised tiles (the "network" step of the picker).

An engine takes tiles of shape (3, T, T) (:func:`nmrpick_ml.normalise.normalise`
cut by :func:`nmrpick_ml.tiling.cut_tiles`) and a raw score floor, and returns
per tile the detections above the floor: ``boxes`` (m, 4) as ``(y0, x0, y1,
x1)`` in tile points, ``scores`` (m,) raw network scores, and ``extents``
(m, 2), the rows and columns that the detection's mask (probability >= 0.5)
covers inside its box (NaN where it covers none). Engines never change the
network they run: the floor is an argument.

:class:`TorchEngine` runs torchvision's Mask R-CNN step by step (transform,
backbone, RPN, box head, per-image post-processing, mask head) with the score
floor passed in. The mask extents are measured on the 28x28 mask resized into
its own box only (:func:`mask_extents`), never pasted into the whole tile.
Torch is imported only when a :class:`TorchEngine` is made.
"""

from __future__ import annotations

import functools
import time

import numpy as np

__all__ = ["TorchEngine", "OnnxEngine", "mask_extents", "postprocess_detections", "MASK_THRESHOLD"]

#: Mask probability at which a point belongs to the detection.
MASK_THRESHOLD = 0.5


@functools.lru_cache(maxsize=1024)
def _interp_matrix(n_out, n_in):
    """Bilinear (align_corners=False) resize of n_in samples to n_out, as a
    (n_out, n_in) float32 matrix, as torch's ``interpolate`` computes it
    (read-only: cached, box sizes repeat)."""
    scale = np.float32(n_in / n_out)
    src = (np.arange(n_out, dtype=np.float32) + np.float32(0.5)) * scale - np.float32(0.5)
    src = np.maximum(src, np.float32(0.0))
    i0 = np.minimum(np.floor(src).astype(np.int64), n_in - 1)
    i1 = np.minimum(i0 + 1, n_in - 1)
    lam = (src - i0).astype(np.float32)
    m = np.zeros((n_out, n_in), np.float32)
    rows = np.arange(n_out)
    np.add.at(m, (rows, i0), np.float32(1.0) - lam)
    np.add.at(m, (rows, i1), lam)
    m.setflags(write=False)
    return m


def mask_extents(masks, boxes, shape, padding=1, threshold=MASK_THRESHOLD):
    """Rows and columns a detection's mask covers inside its own box.

    The same as pasting each ``M x M`` mask into the tile the way torchvision
    does (pad by ``padding``, widen the box accordingly, bilinear resize to the
    integer box) and cropping the pasted mask to the pixels of the detection's
    box, but computed on the box only.

    Parameters
    ----------
    masks : ndarray of shape (m, M, M)
        Mask probabilities (the mask head's output, sigmoid applied).
    boxes : ndarray of shape (m, 4)
        ``(y0, x0, y1, x1)`` in tile points.
    shape : (int, int)
        Tile size (rows, columns).

    Returns
    -------
    ndarray of shape (m, 2)
        Rows and columns covered (max - min + 1 of the points >= ``threshold``);
        NaN where none is.
    """
    m = len(boxes)
    out = np.full((m, 2), np.nan)
    if m == 0:
        return out
    im_h, im_w = shape
    mm = masks.shape[-1]
    padded = np.pad(np.asarray(masks, np.float32), ((0, 0), (padding, padding), (padding, padding)))
    scale = np.float32(float(mm + 2 * padding) / mm)
    b = np.asarray(boxes, np.float32)
    # torchvision's expand_boxes on (x0, y0, x1, y1), float32, then int64 (truncation)
    w_half = (b[:, 3] - b[:, 1]) * np.float32(0.5) * scale
    h_half = (b[:, 2] - b[:, 0]) * np.float32(0.5) * scale
    x_c = (b[:, 3] + b[:, 1]) * np.float32(0.5)
    y_c = (b[:, 2] + b[:, 0]) * np.float32(0.5)
    ex0, ex1 = np.trunc(x_c - w_half).astype(np.int64), np.trunc(x_c + w_half).astype(np.int64)
    ey0, ey1 = np.trunc(y_c - h_half).astype(np.int64), np.trunc(y_c + h_half).astype(np.int64)
    for k in range(m):
        w = max(int(ex1[k] - ex0[k] + 1), 1)
        h = max(int(ey1[k] - ey0[k] + 1), 1)
        # the pasted region in the tile, intersected with the crop of the box
        px0, px1 = max(ex0[k], 0), min(ex1[k] + 1, im_w)
        py0, py1 = max(ey0[k], 0), min(ey1[k] + 1, im_h)
        cy0, cy1 = int(max(0, np.floor(boxes[k][0]))), int(np.ceil(boxes[k][2]))
        cx0, cx1 = int(max(0, np.floor(boxes[k][1]))), int(np.ceil(boxes[k][3]))
        ry0, ry1 = max(py0, cy0), min(py1, cy1, im_h)
        rx0, rx1 = max(px0, cx0), min(px1, cx1, im_w)
        if ry1 <= ry0 or rx1 <= rx0:
            continue
        my = _interp_matrix(h, mm + 2 * padding)[ry0 - ey0[k]:ry1 - ey0[k]]
        mx = _interp_matrix(w, mm + 2 * padding)[rx0 - ex0[k]:rx1 - ex0[k]]
        on = (my @ padded[k] @ mx.T) >= threshold
        if not on.any():
            continue
        ys = np.nonzero(on.any(axis=1))[0]
        xs = np.nonzero(on.any(axis=0))[0]
        out[k] = (ys[-1] - ys[0] + 1, xs[-1] - xs[0] + 1)
    return out


class TorchEngine:
    """Run a torchvision Mask R-CNN (from :func:`nmrpick_ml.model.load_network`).

    Parameters
    ----------
    network : torchvision.models.detection.MaskRCNN
        In eval mode; it is only read.
    """

    name = "torch"

    def __init__(self, network):
        self.network = network

    @property
    def device(self):
        return next(self.network.parameters()).device

    def run(self, tiles, floor, batch_size=8, timings=None):
        """Detections above the raw score ``floor`` on each tile (see module docstring).

        ``timings`` (a dict), when given, gets the seconds of the network
        (``"network"``) and of :func:`mask_extents` (``"mask extents"``) added.
        """
        out = []
        for i in range(0, len(tiles), batch_size):
            out.extend(self._batch(tiles[i:i + batch_size], float(floor), timings))
        return out

    def _batch(self, tiles, floor, timings=None):
        import torch
        from torchvision.models.detection.image_list import ImageList
        from torchvision.models.detection.roi_heads import maskrcnn_inference
        net = self.network
        if not tiles:
            return []
        t0 = time.perf_counter()
        with torch.no_grad():
            x = torch.from_numpy(np.ascontiguousarray(np.stack(tiles))).to(self.device)
            h, w = x.shape[-2:]
            div = 32       # the transform's size_divisible: pad (zeros) to a multiple
            ph, pw = -(-h // div) * div, -(-w // div) * div
            if (ph, pw) != (h, w):
                x = torch.nn.functional.pad(x, (0, pw - w, 0, ph - h))
            sizes = [(int(h), int(w))] * len(tiles)
            images = ImageList(x, sizes)
            feats = net.backbone(x)
            proposals, _ = net.rpn(images, feats)
            rh = net.roi_heads
            bf = rh.box_head(rh.box_roi_pool(feats, proposals, sizes))
            logits, reg = rh.box_predictor(bf)
            boxes, scores, labels = postprocess_detections(rh, logits, reg, proposals, sizes, floor)
            if sum(len(b) for b in boxes):
                mf = rh.mask_head(rh.mask_roi_pool(feats, boxes, sizes))
                probs = maskrcnn_inference(rh.mask_predictor(mf), labels)
            else:
                probs = [torch.zeros((0, 1, 28, 28)) for _ in boxes]
        t1 = time.perf_counter()
        out = []
        for b, s, p in zip(boxes, scores, probs):
            b = b.cpu().numpy()[:, [1, 0, 3, 2]]
            out.append(dict(boxes=b, scores=s.cpu().numpy(),
                            extents=mask_extents(p[:, 0].cpu().numpy(), b, (int(h), int(w)))))
        _add(timings, "network", t1 - t0)
        _add(timings, "mask extents", time.perf_counter() - t1)
        return out


def _add(timings, key, seconds):
    if timings is not None:
        timings[key] = timings.get(key, 0.0) + seconds


def postprocess_detections(rh, class_logits, box_regression, proposals, image_shapes, score_thresh):
    """torchvision's ``RoIHeads.postprocess_detections`` with the score floor as
    an argument (the module's own ``score_thresh`` is not read or changed)."""
    import torch
    import torch.nn.functional as F
    from torchvision.ops import boxes as box_ops
    num_classes = class_logits.shape[-1]
    boxes_per_image = [len(p) for p in proposals]
    pred_boxes = rh.box_coder.decode(box_regression, proposals)
    pred_scores = F.softmax(class_logits, -1)
    all_boxes, all_scores, all_labels = [], [], []
    for boxes, scores, image_shape in zip(pred_boxes.split(boxes_per_image, 0),
                                          pred_scores.split(boxes_per_image, 0), image_shapes):
        boxes = box_ops.clip_boxes_to_image(boxes, image_shape)
        labels = torch.arange(num_classes, device=boxes.device).view(1, -1).expand_as(scores)
        boxes, scores, labels = boxes[:, 1:], scores[:, 1:], labels[:, 1:]
        boxes, scores, labels = boxes.reshape(-1, 4), scores.reshape(-1), labels.reshape(-1)
        inds = torch.where(scores > score_thresh)[0]
        boxes, scores, labels = boxes[inds], scores[inds], labels[inds]
        keep = box_ops.remove_small_boxes(boxes, min_size=1e-2)
        boxes, scores, labels = boxes[keep], scores[keep], labels[keep]
        keep = box_ops.batched_nms(boxes, scores, labels, rh.nms_thresh)[: rh.detections_per_img]
        all_boxes.append(boxes[keep])
        all_scores.append(scores[keep])
        all_labels.append(labels[keep])
    return all_boxes, all_scores, all_labels


class OnnxEngine:
    """Run the network's ONNX graph (:mod:`nmrpick_ml.onnx_export`) with ONNX Runtime.

    No torch: the graph takes one normalised tile and the raw score floor and
    returns the boxes, scores and 28x28 masks above the floor; the mask
    extents are measured as :class:`TorchEngine` measures them.

    Parameters
    ----------
    path : str
        The ``.onnx`` file.
    threads : int, optional
        ONNX Runtime intra-op threads (default: its own choice, the physical cores).
    """

    name = "onnx"
    #: Tile sizes the graph takes: multiples of this (torch pads other sizes).
    size_multiple = 32

    def __init__(self, path, threads=None):
        import onnxruntime as ort
        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = int(threads)
        opts.log_severity_level = 3
        # idle intra-op threads sleep instead of spinning: on a busy machine spinning
        # doubled the CPU time per tile (benchmarks/results/speed.md, by stage)
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.path = str(path)
        self.session = ort.InferenceSession(str(path), sess_options=opts,
                                            providers=["CPUExecutionProvider"])

    def run(self, tiles, floor, batch_size=8, timings=None):
        """Detections above the raw score ``floor`` on each tile (see module docstring).

        One tile per session run (``batch_size`` is not used: the graph takes
        one tile); ``timings`` as for :meth:`TorchEngine.run`.
        """
        out = []
        f = np.asarray(floor, np.float32)
        for t in tiles:
            h, w = t.shape[-2:]
            x = np.ascontiguousarray(t, dtype=np.float32)[None]
            t0 = time.perf_counter()
            boxes, scores, masks = self.session.run(None, {"tiles": x, "floor": f})
            t1 = time.perf_counter()
            b = boxes[:, [1, 0, 3, 2]].astype(np.float32)
            out.append(dict(boxes=b, scores=scores, extents=mask_extents(masks, b, (int(h), int(w)))))
            _add(timings, "network", t1 - t0)
            _add(timings, "mask extents", time.perf_counter() - t1)
        return out
