"""Shared fixtures.  `real_videos` finds real sample videos (Debian's opencv-doc: Megamind.avi, talking CGI faces);
they are never committed: the installed package is used when present, else the .deb is fetched with apt into
.cache/ (ignored by git), else the tests that need them are skipped.  `gradfix_calls` counts the convolutions that
go through ``nn.conv_gradfix``."""
import collections
import fcntl
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

OPENCV_DATA = Path("/usr/share/doc/opencv-doc/examples/data")
CACHE = Path(__file__).resolve().parents[1] / ".cache" / "opencv-doc"


def _fetch_opencv_samples() -> Path | None:
    """The sample video fetched once into .cache/; a lock keeps pytest-xdist's workers from fetching it together."""
    target = CACHE / "data"
    if shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None:
        return target if (target / "Megamind.avi").exists() else None
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / "fetch.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _fetch_locked(target)


def _fetch_locked(target: Path) -> Path | None:
    if (target / "Megamind.avi").exists():
        return target
    try:
        subprocess.run(["apt-get", "download", "opencv-doc"], cwd=CACHE, check=True, capture_output=True, timeout=300)
        deb = next(CACHE.glob("opencv-doc_*.deb"))
        tar = subprocess.run(["dpkg-deb", "--fsys-tarfile", str(deb)], check=True, capture_output=True).stdout
        import io

        with tarfile.open(fileobj=io.BytesIO(tar)) as tf:
            target.mkdir(parents=True, exist_ok=True)
            for member in tf.getmembers():
                if member.name.endswith("examples/data/Megamind.avi"):
                    part = target / "Megamind.avi.part"
                    with tf.extractfile(member) as src, open(part, "wb") as dst:
                        shutil.copyfileobj(src, dst)
                    part.replace(target / "Megamind.avi")
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
def built_book(request, tmp_path_factory) -> Path:
    """The book built once per session (warnings as errors) for the page checks and the browser test; with
    pytest-xdist the first worker that needs it builds it, in the session's folder, and the others wait and reuse
    it."""
    from test_book import build_book

    shared = tmp_path_factory.getbasetemp()
    if hasattr(request.config, "workerinput"):
        shared = shared.parent                         # the session's folder, above every worker's own
    with open(shared / "book.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        done = shared / "book.built"
        if done.exists():
            return Path(done.read_text())
        html = build_book(shared / "book")
        done.write_text(str(html))
        return html


@pytest.fixture
def gradfix_calls(monkeypatch) -> collections.Counter:
    """``calls["conv"]``: how many convolutions have gone through ``nn.conv_gradfix`` since the test began (clear it
    to count again)."""
    from styleinv_lib.nn import conv_gradfix

    calls, apply_ = collections.Counter(), conv_gradfix._Conv.apply

    def counting(*args):
        calls["conv"] += 1
        return apply_(*args)
    monkeypatch.setattr(conv_gradfix._Conv, "apply", counting)
    return calls
