"""The benchmark functions run and report every measure (no timing asserts)."""
from appliance.face.bench import bench_engine, bench_gallery


def test_bench_gallery_reports_each_size():
    report = bench_gallery(sizes=(50, 500), repeats=3)
    assert set(report) == {50, 500}
    for row in report.values():
        assert {"search_ms", "add_ms", "replace_ms", "remove_ms", "build_s", "matrix_mb"} <= set(row)
        assert all(v >= 0 for v in row.values())


def test_bench_engine_reports_each_stage(face_models_dir):
    from pathlib import Path

    photo = Path(__file__).resolve().parents[1] / "data" / "faces" / "astronaut.jpg"
    stages = bench_engine(face_models_dir, photo, repeats=2)
    assert set(stages) == {"decode", "detect", "align", "embed", "total"}
