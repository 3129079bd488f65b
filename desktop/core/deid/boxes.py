"""Rectangles on an image (pixels, origin top left) and the JSON form a person edits."""

import json
from collections.abc import Iterable
from dataclasses import dataclass

from desktop.core.errors import CourierError


@dataclass(frozen=True, slots=True, order=True)
class Box:
    """``width`` × ``height`` pixels from column ``x``, row ``y``."""

    x: int
    y: int
    width: int
    height: int

    @property
    def right(self) -> int:
        return self.x + self.width

    @property
    def bottom(self) -> int:
        return self.y + self.height

    @property
    def area(self) -> int:
        return max(self.width, 0) * max(self.height, 0)

    def clipped(self, columns: int, rows: int) -> "Box | None":
        """This box inside a ``columns`` × ``rows`` image; None when nothing of it is."""
        x, y = max(self.x, 0), max(self.y, 0)
        right, bottom = min(self.right, columns), min(self.bottom, rows)
        return Box(x, y, right - x, bottom - y) if right > x and bottom > y else None

    def inside(self, other: "Box") -> bool:
        return (
            self.x >= other.x
            and self.y >= other.y
            and self.right <= other.right
            and self.bottom <= other.bottom
        )

    def to_json(self) -> list[int]:
        return [self.x, self.y, self.width, self.height]

    @classmethod
    def from_json(cls, value: object) -> "Box":
        """A box from ``[x, y, width, height]``; CourierError for anything else."""
        if (
            not isinstance(value, list)
            or len(value) != 4
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in value)
            or value[2] <= 0
            or value[3] <= 0
        ):
            raise CourierError(
                f"a box must be [x, y, width, height] in whole pixels, width and height above 0; "
                f"got {json.dumps(value)}"
            )
        return cls(*value)


def bounding(points: Iterable[tuple[float, float]]) -> Box:
    """The smallest box holding ``points`` (a detector's quadrilateral)."""
    xs, ys = zip(*points, strict=True)
    x, y = int(min(xs)), int(min(ys))
    return Box(x, y, int(max(xs) + 0.999) - x, int(max(ys) + 0.999) - y)
