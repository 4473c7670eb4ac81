"""ImageNet MobileNetV2 features: the backbone, the extractor and its cache (local), and the Beam runner."""
