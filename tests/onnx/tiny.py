"""Tiny ONNX models with the input/output names, shapes and dtypes of the community face models, built
with the onnx helper API (no real weights): each does a little known arithmetic so a test can tell
what reached it and what it gave back."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from shared.onnx_catalog import ModelCard

OPSET = 17
RNG = np.random.default_rng(16)


def save(path: Path, nodes, inputs, outputs, initializers=()) -> Path:
    graph = helper.make_graph(nodes, "tiny", inputs, outputs, list(initializers))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 9
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return Path(path)


def _tensor(name, array, fp16=False):
    return numpy_helper.from_array(np.asarray(array, np.float16 if fp16 else np.float32), name)


def swapper(path: Path, card: ModelCard, *, color=None, batch="N", fp16=False, size=None,
            emap: np.ndarray | None = None) -> Path:
    """`target` [B,3,S,S] + `source` → `output` [B,3,S,S]: the target itself (`color` None) or a constant
    per-channel colour (3 values, in the model's output convention) wherever the target is."""
    size = size or card.size
    elem = TensorProto.FLOAT16 if fp16 else TensorProto.FLOAT
    source_shape = {"image112": [batch, 3, 112, 112], "image256": [batch, 3, 256, 256]}.get(card.identity, [batch, 512])
    inputs = [helper.make_tensor_value_info("target", elem, [batch, 3, size, size]),
              helper.make_tensor_value_info("source", elem, source_shape)]
    outputs = [helper.make_tensor_value_info("output", elem, [batch, 3, size, size])]
    if color is None:
        nodes, inits = [helper.make_node("Identity", ["target"], ["output"])], []
    else:
        nodes = [helper.make_node("Mul", ["target", "zero"], ["blank"]),
                 helper.make_node("Add", ["blank", "color"], ["output"])]
        inits = [_tensor("zero", np.zeros(1), fp16), _tensor("color", np.reshape(color, (1, 3, 1, 1)), fp16)]
    if emap is not None:
        inits.append(_tensor("emap", emap))  # inswapper keeps it as the graph's last initializer
    return save(path, nodes, inputs, outputs, inits)


def recogniser(path: Path, weights: np.ndarray, bias: np.ndarray, input_name="input.1") -> Path:
    """[N,3,112,112] → the per-channel means (RGB order as fed) @ weights [3,512] + bias: a 512-d 'embedding'."""
    nodes = [helper.make_node("GlobalAveragePool", [input_name], ["pooled"]),
             helper.make_node("Flatten", ["pooled"], ["flat"]),
             helper.make_node("MatMul", ["flat", "w"], ["product"]),
             helper.make_node("Add", ["product", "b"], ["683"])]
    return save(path, nodes, [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, ["N", 3, 112, 112])],
                [helper.make_tensor_value_info("683", TensorProto.FLOAT, ["N", 512])],
                [_tensor("w", weights), _tensor("b", bias)])


def converter(path: Path, matrix: np.ndarray) -> Path:
    """crossface: `input` [N,512] @ matrix → `output` [N,512]."""
    return save(path, [helper.make_node("MatMul", ["input", "m"], ["output"])],
                [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 512])],
                [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", 512])], [_tensor("m", matrix)])


def restorer(path: Path, size: int, *, color=None, weight_input=False, batch="N") -> Path:
    """`input` [B,3,S,S] (+ CodeFormer's `weight` [1] double) → `output`: the input or a constant colour
    (in [-1, 1]); with `weight`, the colour is scaled by it so a test sees the value that arrived."""
    inputs = [helper.make_tensor_value_info("input", TensorProto.FLOAT, [batch, 3, size, size])]
    nodes, inits = [], []
    if color is None:
        nodes.append(helper.make_node("Identity", ["input"], ["output"]))
    else:
        nodes += [helper.make_node("Mul", ["input", "zero"], ["blank"])]
        inits += [_tensor("zero", np.zeros(1)), _tensor("color", np.reshape(color, (1, 3, 1, 1)))]
        if weight_input:
            nodes += [helper.make_node("Cast", ["weight"], ["weight32"], to=TensorProto.FLOAT),
                      helper.make_node("Mul", ["color", "weight32"], ["scaled"]),
                      helper.make_node("Add", ["blank", "scaled"], ["output"])]
        else:
            nodes.append(helper.make_node("Add", ["blank", "color"], ["output"]))
    if weight_input:
        inputs.append(helper.make_tensor_value_info("weight", TensorProto.DOUBLE, [1]))
        if color is None:
            raise ValueError("a weight input needs a colour to scale")
    return save(path, nodes, inputs, [helper.make_tensor_value_info("output", TensorProto.FLOAT, [batch, 3, size, size])],
                inits)


def parser(path: Path, weights: np.ndarray) -> Path:
    """BiSeNet-shaped: `input` [N,3,512,512] → 1×1 convolution to 19 class logits `output` [N,19,512,512]."""
    return save(path, [helper.make_node("Conv", ["input", "w"], ["output"])],
                [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, 512, 512])],
                [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", 19, 512, 512])],
                [_tensor("w", weights.reshape(19, 3, 1, 1))])


def occluder(path: Path, channel: int = 2) -> Path:
    """XSeg-shaped: `input` [N,256,256,3] NHWC → `output` [N,256,256,1] = that channel of the input."""
    return save(path, [helper.make_node("Slice", ["input", "start", "end", "axis"], ["output"])],
                [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 256, 256, 3])],
                [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", 256, 256, 1])],
                [numpy_helper.from_array(np.array([channel], np.int64), "start"),
                 numpy_helper.from_array(np.array([channel + 1], np.int64), "end"),
                 numpy_helper.from_array(np.array([3], np.int64), "axis")])
