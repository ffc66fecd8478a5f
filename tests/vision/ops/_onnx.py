"""onnxruntime as the reference for torchvision's RoIAlign and NMS (torchvision does not import
beside torch 2.13.0 here): the one-node graphs, built with the onnx helper."""

import numpy as np
from _parity import import_oracle


def import_ort():
    """(onnx, onnxruntime), or a skip; under CI (``CI`` set) a missing one fails."""
    return import_oracle("onnx", "onnxruntime")


def _run(node, inputs, outputs, feeds, opset):
    onnx, ort = import_ort()
    graph = onnx.helper.make_graph([node], "g", inputs, outputs)
    model = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", opset)])
    model.ir_version = 8
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(model.SerializeToString(), opts,
                                providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)[0]


def ort_roi_align(x, rois, output_size, spatial_scale, sampling_ratio, aligned):
    """onnxruntime's RoiAlign (opset 16, mode avg): half_pixel = torchvision's aligned=True,
    output_half_pixel = aligned=False; sampling_ratio 0 = adaptive."""
    onnx, _ = import_ort()
    t = onnx.helper.make_tensor_value_info
    elem = onnx.TensorProto.DOUBLE if x.dtype == np.float64 else onnx.TensorProto.FLOAT
    node = onnx.helper.make_node(
        "RoiAlign", ["X", "rois", "batch_indices"], ["Y"], mode="avg",
        output_height=output_size[0], output_width=output_size[1],
        sampling_ratio=max(sampling_ratio, 0), spatial_scale=float(spatial_scale),
        coordinate_transformation_mode="half_pixel" if aligned else "output_half_pixel")
    return _run(node, [t("X", elem, None), t("rois", elem, None),
                       t("batch_indices", onnx.TensorProto.INT64, None)],
                [t("Y", elem, None)],
                {"X": x, "rois": np.ascontiguousarray(rois[:, 1:]),
                 "batch_indices": rois[:, 0].astype(np.int64)}, 16)


def ort_nms(boxes, scores, iou_threshold):
    """onnxruntime's NonMaxSuppression on one batch and one class: the kept indices."""
    onnx, _ = import_ort()
    t = onnx.helper.make_tensor_value_info
    f, i64 = onnx.TensorProto.FLOAT, onnx.TensorProto.INT64
    node = onnx.helper.make_node("NonMaxSuppression", ["boxes", "scores", "max", "iou"],
                                 ["selected"], center_point_box=0)
    out = _run(node, [t("boxes", f, None), t("scores", f, None), t("max", i64, None),
                      t("iou", f, None)], [t("selected", i64, None)],
               {"boxes": boxes[None].astype(np.float32), "scores": scores[None, None]
                .astype(np.float32), "max": np.array([len(boxes)], np.int64),
                "iou": np.array([iou_threshold], np.float32)}, 11)
    return out[:, 2]
