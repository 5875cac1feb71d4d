"""FID with the real Inception-v3, and the offline weight lookup it relies on."""
import io
import shutil
import tarfile

import numpy as np
import pytest
import torch

from styleinv_lib import SynthFaces
from styleinv_lib.metrics import assets
from styleinv_lib.metrics.assets import AssetError, download, locate_asset
from styleinv_lib.metrics.fid import FEATURE_DIM, inception, load_inception, nvidia_bilinear_resize
from styleinv_lib.metrics.frechet import FeatureStats, frechet_distance_from_stats


@pytest.fixture(scope="module")
def net():
    return inception()


@pytest.fixture(scope="module")
def faces():
    """24 uint8 SynthFaces frames (4 videos × 6 frames), 32²."""
    ds = SynthFaces(num_frames=6, resolution=32, seed=3)
    return torch.cat([ds.render(i) for i in range(4)]).permute(0, 3, 1, 2).contiguous()


def test_inception_forward_shape_and_determinism(net, faces):
    a = net(faces[:4])
    assert a.shape == (4, FEATURE_DIM) and a.dtype == torch.float32
    assert torch.equal(a, net(faces[:4]))
    assert (a >= 0).all()  # pool_3 follows a ReLU
    # any input size is resized to 299 inside
    big = torch.nn.functional.interpolate(faces[:2].float(), size=97, mode="nearest").to(torch.uint8)
    assert net(big).shape == (2, FEATURE_DIM)
    with pytest.raises(ValueError, match="uint8"):
        net(faces[:2].float())


def test_resize_is_identity_at_299_and_keeps_constants():
    x = torch.rand(1, 3, 299, 299)
    assert torch.equal(nvidia_bilinear_resize(x), x)
    flat = torch.full((1, 3, 40, 40), 77.0)
    torch.testing.assert_close(nvidia_bilinear_resize(flat), torch.full((1, 3, 299, 299), 77.0))


def test_fid_of_a_set_against_itself_is_zero_and_grows_with_noise(net, faces):
    faces = faces[::2]                      # 12 frames: the distance's ordering needs no more (and each costs)
    gen = torch.Generator().manual_seed(0)

    def stats(images):
        return FeatureStats(FEATURE_DIM).update(net(images))

    def noisy(sigma):
        x = faces.float() + sigma * torch.randn(faces.shape, generator=gen)
        return x.round().clamp(0, 255).to(torch.uint8)

    base = stats(faces)
    assert frechet_distance_from_stats(base, base) == pytest.approx(0.0, abs=1e-6)
    d = [frechet_distance_from_stats(base, stats(noisy(s))) for s in (4, 16, 48)]
    assert 0 < d[0] < d[1] < d[2], d          # 109 < 308 < 452


def test_load_by_file_url_checks_sha256(tmp_path, monkeypatch):
    monkeypatch.setenv("STYLEINV_CACHE", str(tmp_path / "cache"))
    official = locate_asset("inception")
    url = official.resolve().as_uri()
    net = load_inception(url, sha256=assets.ASSETS["inception"].sha256)
    assert net.source.startswith(str(tmp_path / "cache"))
    x = torch.zeros(1, 3, 16, 16, dtype=torch.uint8)
    torch.testing.assert_close(net(x), inception()(x))
    with pytest.raises(AssetError, match="does not match"):
        load_inception(url, sha256="0" * 64)
    with pytest.raises(AssetError, match="sha256"):
        load_inception(url)  # a URL without a checksum is refused


def test_download_extracts_an_archive_member_and_leaves_nothing_on_failure(tmp_path):
    payload = b"weights" * 100
    archive = tmp_path / "pkg.tar.gz"
    with tarfile.open(archive, "w:gz") as t:
        info = tarfile.TarInfo("pkg-1.0/pkg/weights/w.ckpt")
        info.size = len(payload)
        t.addfile(info, io.BytesIO(payload))
    dest = tmp_path / "out" / "w.ckpt"
    sha = assets.sha256_of(archive)
    member_sha = __import__("hashlib").sha256(payload).hexdigest()
    download(archive.as_uri(), dest, sha, archive_member="pkg-1.0/pkg/weights/w.ckpt", member_sha256=member_sha)
    assert dest.read_bytes() == payload
    bad = tmp_path / "out" / "bad.ckpt"
    with pytest.raises(AssetError, match="no member"):
        download(archive.as_uri(), bad, sha, archive_member="missing")
    with pytest.raises(AssetError, match="does not match"):
        download(archive.as_uri(), bad, "f" * 64)
    with pytest.raises(AssetError, match="cannot download"):
        download((tmp_path / "nope.tar.gz").as_uri(), bad, sha)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["w.ckpt"]


def test_locate_asset_override_and_checksum(tmp_path, monkeypatch):
    fake = tmp_path / "i3d.ckpt"
    fake.write_bytes(b"not the weights")
    monkeypatch.setenv("STYLEINV_ASSET_I3D", str(fake))
    with pytest.raises(AssetError, match="does not match the pinned"):
        locate_asset("i3d")
    monkeypatch.setenv("STYLEINV_ASSET_I3D", str(tmp_path / "missing"))
    with pytest.raises(AssetError, match="no such file"):
        locate_asset("i3d")
    real = tmp_path / "copy.ckpt"
    shutil.copyfile(assets._package_file(assets.ASSETS["i3d"]), real)
    monkeypatch.setenv("STYLEINV_ASSET_I3D", str(real))
    assert locate_asset("i3d") == real.resolve()
    with pytest.raises(AssetError, match="unknown asset"):
        locate_asset("resnet")


def test_missing_asset_message_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setattr(assets, "_package_file", lambda asset: None)
    monkeypatch.setenv("STYLEINV_CACHE", str(tmp_path))
    with pytest.raises(AssetError, match="styleinv assets install"):
        locate_asset("lpips_vgg16", download_ok=False)


def test_every_asset_is_available_offline():
    """The README's install path provides every network without internet (CI has none)."""
    report = assets.asset_report()
    assert [r["name"] for r in report if r["status"] != "ok"] == []
    assert np.all([r["license"] for r in report])
