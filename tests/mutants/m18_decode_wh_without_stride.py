"""YOLOv3 decode scaling the box size by the anchors only (anchors taken as pixels, not grid units)."""

from typing import Any

TARGETS = ("decode",)
CATEGORIES = ("value", "gradient")
DESCRIPTION = "wh = e^raw · anchors, missing · stride (right only for stride 1)"
KIND = "formula"


def decode(self: Any, conv_output: Any, anchors: Any, stride: Any, num_class: int) -> Any:
    o = self.ops
    conv = o.as_float(conv_output)
    dtype = o.dtype(conv)
    n = int(num_class)
    anc, a = self.anchor_table(anchors, dtype)
    anc = o.on_device_of(anc, conv)
    stride_c = o.const(stride, dtype)
    _, rows, cols, _ = o.shape(conv)
    raw = o.reshape(conv, (-1, rows, cols, a, 5 + n))
    grid_x = o.broadcast_to(o.reshape(o.cast(o.on_device_of(o.arange(cols), conv), dtype), (1, cols, 1)),
                            (rows, cols, 1))
    grid_y = o.broadcast_to(o.reshape(o.cast(o.on_device_of(o.arange(rows), conv), dtype), (rows, 1, 1)),
                            (rows, cols, 1))
    grid = o.expand_dims(o.concatenate([grid_x, grid_y], axis=-1), 2)
    xy = (self.sigmoid(raw[..., 0:2]) + grid) * stride_c
    wh = o.exp(raw[..., 2:4]) * anc
    return o.concatenate([xy, wh, self.sigmoid(raw[..., 4:5]), self.sigmoid(raw[..., 5:])], axis=-1)
