"""The transfer network as a chain of named parts, so each part can be trained, cached or replaced on its own.

    images -> [augmentation] -> preprocess -> bottom (frozen) -> top (trainable blocks) -> pool -> head

`bottom` is the part that never trains (ImageNet weights in every model), so its output — the "cut" — is the
same for every source and seed: fine-tuning caches it once per dataset and trains `tail` (top + head) on it.
"""
from __future__ import annotations

import keras

from recommender import build_backbone

STRATEGIES = ("linear_probe", "top_blocks", "full")
N_BLOCKS = 16  # MobileNetV2 has blocks 1..16 after the first expanded_conv block
POOLED = None  # cut name for linear_probe: the global-average-pooled features the recommender uses


def cut_layer(base: keras.Model, strategy: str, top_blocks: int) -> str | None:
    """Name of the base layer whose output feeds the trainable part (None: pooled features; 'input': all)."""
    if strategy == "linear_probe":
        return POOLED
    if strategy == "full":
        return "input"
    if strategy != "top_blocks":
        raise ValueError(f"finetune.strategy={strategy!r}; use one of {STRATEGIES}.")
    if not 1 <= int(top_blocks) <= N_BLOCKS - 1:
        raise ValueError(f"finetune.top_blocks={top_blocks}; use 1..{N_BLOCKS - 1}.")
    block = N_BLOCKS - int(top_blocks)
    names = [layer.name for layer in base.layers if layer.name.startswith(f"block_{block}_")]
    return names[-1]


def _freeze_batchnorm(model: keras.Model) -> None:
    # Keras's advice for fine-tuning: BatchNorm stays in inference mode, so small batches cannot wreck its stats.
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = False


def augmentation_layers(aug) -> list[keras.layers.Layer]:
    """The data-augmentation layers `finetune.augmentation` switches on (none by default)."""
    layers = []
    if aug.shift:
        layers.append(keras.layers.RandomTranslation(aug.shift_factor, aug.shift_factor, name="aug_shift"))
    if aug.zoom:
        layers.append(keras.layers.RandomZoom(aug.zoom_factor, name="aug_zoom"))
    if aug.rotation:
        layers.append(keras.layers.RandomRotation(aug.rotation_factor, name="aug_rotation"))
    if aug.flip:
        layers.append(keras.layers.RandomFlip("horizontal", name="aug_flip"))
    return layers


def build_network(backbone_spec, weights_path, ft, n_classes: int) -> keras.Model:
    """A fresh transfer network: ImageNet backbone split at the strategy's cut, and a new head."""
    size = int(backbone_spec.image_size)
    base = build_backbone(backbone_spec, weights_path, pooling=None)
    cut = cut_layer(base, ft.strategy, ft.top_blocks)
    if cut == "input":
        bottom, top = None, keras.Model(base.input, base.output, name="top")
    elif cut is POOLED:
        bottom, top = keras.Model(base.input, base.output, name="bottom"), None
    else:
        bottom = keras.Model(base.input, base.get_layer(cut).output, name="bottom")
        top = keras.Model(base.get_layer(cut).output, base.output, name="top")
    if bottom is not None:
        bottom.trainable = False
    if top is not None:
        _freeze_batchnorm(top)
    parts = [*augmentation_layers(ft.augmentation), keras.layers.Rescaling(1 / 127.5, offset=-1, name="preprocess")]
    parts += [p for p in (bottom, top) if p is not None]
    parts.append(keras.layers.GlobalAveragePooling2D(name="pool"))
    parts += head_layers(ft, n_classes)
    return chain(keras.Input((size, size, 3), name="image"), parts, name="transfer_net")


def head_layers(ft, n_classes: int) -> list[keras.layers.Layer]:
    """The new head: an optional hidden layer, dropout and the classifier."""
    layers = []
    if int(ft.hidden_units) > 0:
        layers.append(keras.layers.Dense(int(ft.hidden_units), activation="relu", name="hidden"))
    layers.append(keras.layers.Dropout(float(ft.dropout), name="dropout"))
    layers.append(classifier(n_classes))
    return layers


def classifier(n_classes: int) -> keras.layers.Layer:
    """The softmax layer over the target's (or source's) classes."""
    return keras.layers.Dense(int(n_classes), activation="softmax", name="classifier")


def chain(inputs, layers, name: str) -> keras.Model:
    """A Keras model applying `layers` in order to `inputs`."""
    x = inputs
    for layer in layers:
        x = layer(x)
    return keras.Model(inputs, x, name=name)


def parts_after(net: keras.Model, name: str) -> list[keras.layers.Layer]:
    """The layers of the chain that come after the part called `name`."""
    layers = [layer for layer in net.layers if not isinstance(layer, keras.layers.InputLayer)]
    names = [layer.name for layer in layers]
    return layers[names.index(name) + 1 :]


def with_new_classifier(net: keras.Model, n_classes: int) -> keras.Model:
    """Everything of `net` except its final layer, which becomes a fresh one for `n_classes` classes."""
    layers = [layer for layer in net.layers if not isinstance(layer, keras.layers.InputLayer)]
    if layers[-1].name != "classifier":
        raise ValueError(f"{net.name}: a transfer network ends in its 'classifier' layer, not {layers[-1].name!r}.")
    return chain(keras.Input(net.input.shape[1:], name="image"), [*layers[:-1], classifier(n_classes)],
                 name=net.name)


def trainable_tail(net: keras.Model) -> tuple[keras.Model, str | None]:
    """The part of `net` above the frozen bottom, as a model on the bottom's output (weights shared with `net`).

    Returns (tail, cut) where cut names what the tail takes: a bottom layer's activations, or None for the
    pooled features. Networks without a frozen bottom (strategy full) have no tail: (net, 'input').
    """
    names = [layer.name for layer in net.layers]
    if "bottom" not in names:
        return net, "input"
    bottom = net.get_layer("bottom")
    rest = parts_after(net, "bottom")
    if "top" in names:
        return chain(keras.Input(bottom.output.shape[1:]), rest, name="tail"), bottom.layers[-1].name
    rest = [layer for layer in rest if layer.name != "pool"]
    return chain(keras.Input((bottom.output.shape[-1],)), rest, name="tail"), POOLED


def set_phase(net: keras.Model, phase: str) -> None:
    """`head`: only the head trains; `finetune`: the top blocks train too (BatchNorm stays frozen)."""
    names = [layer.name for layer in net.layers]
    if "top" in names:
        top = net.get_layer("top")
        top.trainable = phase == "finetune"
        if phase == "finetune":
            _freeze_batchnorm(top)
