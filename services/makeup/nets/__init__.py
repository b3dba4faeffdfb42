"""Torch networks of the makeup stage."""
from services.makeup.nets.beautygan import (GENERATOR_CLASSES, BeautyGANConcatGenerator, BeautyGANGenerator,
                                            ResidualBlock)

__all__ = ["GENERATOR_CLASSES", "BeautyGANConcatGenerator", "BeautyGANGenerator", "ResidualBlock"]
