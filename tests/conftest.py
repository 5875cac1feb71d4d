"""Shared fixtures.  `real_videos` finds real sample videos (Debian's opencv-doc: Megamind.avi, talking CGI faces);
they are never committed: the installed package is used when present, else the .deb is fetched with apt into
.cache/ (ignored by git), else the tests that need them are skipped."""
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

OPENCV_DATA = Path("/usr/share/doc/opencv-doc/examples/data")
CACHE = Path(__file__).resolve().parents[1] / ".cache" / "opencv-doc"


def _fetch_opencv_samples() -> Path | None:
    target = CACHE / "data"
    if (target / "Megamind.avi").exists():
        return target
    if shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None:
        return None
    CACHE.mkdir(parents=True, exist_ok=True)
    try:
        subprocess.run(["apt-get", "download", "opencv-doc"], cwd=CACHE, check=True, capture_output=True, timeout=300)
        deb = next(CACHE.glob("opencv-doc_*.deb"))
        tar = subprocess.run(["dpkg-deb", "--fsys-tarfile", str(deb)], check=True, capture_output=True).stdout
        import io

        with tarfile.open(fileobj=io.BytesIO(tar)) as tf:
            target.mkdir(parents=True, exist_ok=True)
            for member in tf.getmembers():
                if member.name.endswith("examples/data/Megamind.avi"):
                    with tf.extractfile(member) as src, open(target / "Megamind.avi", "wb") as dst:
                        shutil.copyfileobj(src, dst)
        deb.unlink()
    except (subprocess.SubprocessError, StopIteration, OSError):
        return None
    return target if (target / "Megamind.avi").exists() else None


@pytest.fixture(scope="session")
def real_videos() -> Path:
    if (OPENCV_DATA / "Megamind.avi").exists():
        return OPENCV_DATA
    found = _fetch_opencv_samples()
    if found is None:
        pytest.skip("no real sample video: install Debian's opencv-doc (Megamind.avi) to run this test")
    return found


@pytest.fixture(scope="session")
def built_book(tmp_path_factory) -> Path:
    """The book built once per session (warnings as errors) for the page checks and the browser test."""
    from test_book import build_book

    return build_book(tmp_path_factory.mktemp("book"))
