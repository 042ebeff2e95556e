"""ResNet image encoders in plain torch, for ``zeronas data extract``.

torchvision's wheels do not import beside the torch pinned here, so the standard ResNets
(He et al. 2016; torchvision's "v1.5": the stride sits in the 3x3 convolution of a
bottleneck) are written out. Module names follow torchvision's, so a torchvision
``resnet101`` state dict (e.g. ``resnet101-63fe2227.pth``) loads as it is. Nothing is ever
downloaded: weights come from a file given by the user or already in torch's hub cache.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from zeronas.errors import ZeroNASError

# name: (block, blocks per stage)
ARCHS = {
    "resnet18": ("basic", (2, 2, 2, 2)),
    "resnet34": ("basic", (3, 4, 6, 3)),
    "resnet50": ("bottleneck", (3, 4, 6, 3)),
    "resnet101": ("bottleneck", (3, 4, 23, 3)),
    "resnet152": ("bottleneck", (3, 8, 36, 3)),
}
#: torchvision's file names for its ImageNet weights, first choice first: the original
#: ("V1") recipe is the closest to the Caffe ResNet-101 of the xlsa17 features.
TORCHVISION_FILES = {
    "resnet18": ("resnet18-f37072fd.pth",),
    "resnet34": ("resnet34-b627a593.pth",),
    "resnet50": ("resnet50-0676ba61.pth", "resnet50-11ad3fa6.pth"),
    "resnet101": ("resnet101-63fe2227.pth", "resnet101-cd907fc2.pth"),
    "resnet152": ("resnet152-394f9c45.pth", "resnet152-f82ba261.pth"),
}


def _conv(cin: int, cout: int, k: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2, bias=False)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, cin: int, planes: int, stride: int, downsample: nn.Module | None):
        super().__init__()
        self.conv1, self.bn1 = _conv(cin, planes, 3, stride), nn.BatchNorm2d(planes)
        self.conv2, self.bn2 = _conv(planes, planes, 3), nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + (x if self.downsample is None else self.downsample(x)))


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, cin: int, planes: int, stride: int, downsample: nn.Module | None):
        super().__init__()
        self.conv1, self.bn1 = _conv(cin, planes, 1), nn.BatchNorm2d(planes)
        self.conv2, self.bn2 = _conv(planes, planes, 3, stride), nn.BatchNorm2d(planes)
        self.conv3, self.bn3 = _conv(planes, planes * 4, 1), nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + (x if self.downsample is None else self.downsample(x)))


class ResNet(nn.Module):
    """An ImageNet ResNet; :meth:`features` is the global-average-pooled last stage."""

    def __init__(self, arch: str = "resnet101", num_classes: int = 1000):
        super().__init__()
        if arch not in ARCHS:
            raise ZeroNASError(f"unknown model {arch!r} (known: {', '.join(ARCHS)})")
        kind, blocks = ARCHS[arch]
        block = BasicBlock if kind == "basic" else Bottleneck
        self.arch = arch
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        cin = 64
        for i, (planes, n) in enumerate(zip((64, 128, 256, 512), blocks, strict=True)):
            stride = 1 if i == 0 else 2
            layers = []
            for j in range(n):
                down = None
                if j == 0 and (stride != 1 or cin != planes * block.expansion):
                    down = nn.Sequential(
                        _conv(cin, planes * block.expansion, 1, stride), nn.BatchNorm2d(planes * block.expansion)
                    )
                layers.append(block(cin, planes, stride if j == 0 else 1, down))
                cin = planes * block.expansion
            setattr(self, f"layer{i + 1}", nn.Sequential(*layers))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(cin, num_classes)  # unused for features; kept so torchvision files load strictly
        self.feature_dim = cin
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) normalised images -> (B, feature_dim) pooled features (2048 for ResNet-50/101/152)."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        for name in ("layer1", "layer2", "layer3", "layer4"):  # set by name, as torchvision's keys need
            x = getattr(self, name)(x)
        return torch.flatten(self.avgpool(x), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x))


def torch_hub_checkpoints() -> Path:
    """torch's hub cache, where torchvision keeps downloaded weights ($TORCH_HOME/hub/checkpoints)."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def find_weights(arch: str) -> Path | None:
    """A torchvision weights file for ``arch`` already in torch's hub cache, if any."""
    folder = torch_hub_checkpoints()
    for name in TORCHVISION_FILES.get(arch, ()):
        if (folder / name).is_file():
            return folder / name
    found = sorted(folder.glob(f"{arch}-*.pth")) if folder.is_dir() else []
    return found[0] if found else None


def load_resnet(arch: str, weights: str | os.PathLike | None, random_weights: bool = False) -> tuple[ResNet, str]:
    """Build ``arch`` and load its ImageNet weights; returns the model (eval mode) and their source.

    Args:
        arch: a key of :data:`ARCHS`.
        weights: a torchvision-format state dict file; ``None`` looks in torch's hub cache.
        random_weights: use the random initialisation (for tests; the features mean nothing).
    """
    model = ResNet(arch)
    if random_weights:
        return model.eval(), "random (--random-weights)"
    path = Path(weights) if weights is not None else find_weights(arch)
    if path is None:
        raise ZeroNASError(
            f"no {arch} weights: give --weights FILE (a torchvision {arch} state dict, e.g. "
            f"{TORCHVISION_FILES[arch][0]}) or put it in {torch_hub_checkpoints()}; nothing is downloaded"
        )
    if not path.is_file():
        raise ZeroNASError(f"{path}: weights file not found")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for files that are not checkpoints
        raise ZeroNASError(f"{path}: not a readable torch weights file ({' '.join(str(exc).split())[:200]})") from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ZeroNASError(f"{path}: not a state dict")
    state = {k.removeprefix("module."): v for k, v in state.items()}
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError:
        own = model.state_dict()
        missing = sorted(set(own) - set(state))
        extra = sorted(set(state) - set(own))
        shapes = [k for k in own if k in state and tuple(own[k].shape) != tuple(state[k].shape)]
        detail = "; ".join(
            f"{what}: {', '.join(keys[:3])}{', ...' if len(keys) > 3 else ''}"
            for what, keys in (("missing", missing), ("unexpected", extra), ("other shape", shapes))
            if keys
        )
        raise ZeroNASError(f"{path}: not a torchvision {arch} state dict ({detail})") from None
    return model.eval(), str(path)
