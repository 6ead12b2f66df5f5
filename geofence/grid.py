"""The zones of one level bucketed into a grid of cells: which zones cover each of many points,
in a few vectorised steps (geofence.index builds one per level). Pure."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from numpy.typing import NDArray
from shapely.geometry.base import BaseGeometry

# Grid cells are chosen so that a level has at most about this many.
_TARGET_CELLS = 40_000
# Cells are widened by this much (degrees, ~0.1 mm) when deciding which zones touch them, so that
# floating-point rounding in the cell arithmetic can never put a point outside its cell.
_CELL_SLACK_DEG = 1e-9


@dataclass(frozen=True)
class CellGrid:
    """Zones of one level bucketed into a regular grid of cells (in degrees).

    Per cell, two lists of zones: those that cover the whole cell (every point of the cell is in
    them: no geometry test needed) and those that only touch it (tested exactly, point by point,
    with prepared geometries). Most points of a mall fall in cells of the first kind.
    """

    x0: float
    y0: float
    dx: float
    dy: float
    nx: int
    ny: int
    zone_ids: NDArray[np.int64]
    geometries: NDArray[np.object_]
    sure_ptr: NDArray[np.int64]
    sure: NDArray[np.int64]
    maybe_ptr: NDArray[np.int64]
    maybe: NDArray[np.int64]

    @classmethod
    def build(
        cls,
        zone_ids: Sequence[int],
        shapes: Sequence[BaseGeometry],
        to_xy: Callable[[float, float], tuple[Any, Any]],
    ) -> CellGrid:
        """`to_xy`: degrees to metres in the mall's local frame."""
        geometries = np.array(shapes, dtype=object)
        shapely.prepare(geometries)
        minx, miny, maxx, maxy = shapely.total_bounds(geometries)
        # Square cells in metres, at least 1 m, so that a level has at most _TARGET_CELLS.
        kx, ky = to_xy(minx + 1.0, miny + 1.0)
        kx, ky = (
            float(kx) - float(to_xy(minx, miny)[0]),
            float(ky) - float(to_xy(minx, miny)[1]),
        )
        width_m, height_m = (maxx - minx) * kx, (maxy - miny) * ky
        cell_m = max(1.0, math.sqrt(max(width_m * height_m, 1.0) / _TARGET_CELLS))
        dx, dy = cell_m / kx, cell_m / ky
        nx = math.ceil((maxx - minx) / dx) + 1
        ny = math.ceil((maxy - miny) / dy) + 1
        grid_x, grid_y = np.meshgrid(np.arange(nx), np.arange(ny))
        ix, iy = grid_x.ravel(), grid_y.ravel()
        boxes = shapely.box(
            minx + ix * dx - _CELL_SLACK_DEG,
            miny + iy * dy - _CELL_SLACK_DEG,
            minx + (ix + 1) * dx + _CELL_SLACK_DEG,
            miny + (iy + 1) * dy + _CELL_SLACK_DEG,
        )
        cell, zone = shapely.STRtree(geometries).query(boxes, predicate="intersects")
        covered = shapely.covers(geometries[zone], boxes[cell])
        ncells = nx * ny
        sure_ptr, sure = _csr(cell[covered], zone[covered], ncells)
        maybe_ptr, maybe = _csr(cell[~covered], zone[~covered], ncells)
        return cls(
            x0=minx,
            y0=miny,
            dx=dx,
            dy=dy,
            nx=nx,
            ny=ny,
            zone_ids=np.array(zone_ids, dtype=np.int64),
            geometries=geometries,
            sure_ptr=sure_ptr,
            sure=sure,
            maybe_ptr=maybe_ptr,
            maybe=maybe,
        )

    def match(
        self, x: NDArray[np.float64], y: NDArray[np.float64], selected: NDArray[np.intp]
    ) -> tuple[NDArray[np.intp], NDArray[np.int64]]:
        """(point index, zone id) pairs for the selected points."""
        with np.errstate(invalid="ignore"):
            ix = np.floor((x[selected] - self.x0) / self.dx)
            iy = np.floor((y[selected] - self.y0) / self.dy)
            inside = (ix >= 0) & (ix < self.nx) & (iy >= 0) & (iy < self.ny)
        points = selected[inside]
        cells = (iy[inside] * self.nx + ix[inside]).astype(np.int64)
        sure_points, sure_zones = _expand(points, cells, self.sure_ptr, self.sure)
        maybe_points, maybe_zones = _expand(points, cells, self.maybe_ptr, self.maybe)
        hit = shapely.intersects_xy(self.geometries[maybe_zones], x[maybe_points], y[maybe_points])
        return (
            np.concatenate((sure_points, maybe_points[hit])),
            self.zone_ids[np.concatenate((sure_zones, maybe_zones[hit]))],
        )


def _csr(
    cells: NDArray[np.intp], values: NDArray[np.intp], ncells: int
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    order = np.argsort(cells, kind="stable")
    counts = np.bincount(cells, minlength=ncells)
    ptr = np.zeros(ncells + 1, dtype=np.int64)
    np.cumsum(counts, out=ptr[1:])
    return ptr, values[order].astype(np.int64)


def _expand(
    points: NDArray[np.intp],
    cells: NDArray[np.int64],
    ptr: NDArray[np.int64],
    data: NDArray[np.int64],
) -> tuple[NDArray[np.intp], NDArray[np.int64]]:
    """For each point, one pair per entry of its cell's list."""
    starts = ptr[cells]
    counts = ptr[cells + 1] - starts
    total = int(counts.sum())
    if total == 0:
        return np.empty(0, dtype=np.intp), np.empty(0, dtype=np.int64)
    # Offset of each output slot inside its point's list: 0, 1, ... per point.
    first = np.cumsum(counts) - counts
    within = np.arange(total) - np.repeat(first, counts)
    return np.repeat(points, counts), data[np.repeat(starts, counts) + within]
