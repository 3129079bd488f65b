"""Small previews of images, for the viewer's series strip."""

import numpy as np
from numpy.typing import NDArray
from PIL import Image


def thumbnail(pixels: NDArray[np.uint8], size: int) -> NDArray[np.uint8]:
    """``pixels`` (grey or RGB) shrunk to fit ``size``×``size``, keeping the aspect ratio."""
    image = Image.fromarray(np.ascontiguousarray(pixels))
    image.thumbnail((size, size), Image.Resampling.BILINEAR)
    return np.asarray(image, dtype=np.uint8)
