"""Binary cross-entropy averaged over the last axis (keras.losses' reduction) where the contract is elementwise."""

from typing import Any

from conformance.targets.catalogue import Catalogue

TARGETS = ("binary_crossentropy",)
CATEGORIES = ("value", "gradient")
DESCRIPTION = "a mean over the last axis of the elementwise values: one axis short of the contract's shape"
KIND = "shape"


def binary_crossentropy(self: Any, target: Any, output: Any) -> Any:
    return self.mean(Catalogue.binary_crossentropy(self, target, output), axis=-1)
