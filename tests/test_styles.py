"""Art-style image sets: every style is a different picture of the same subject, with its own look."""
import pytest
import torch

from styleinv_lib.data.styles import ALL_STYLES, ART_STYLES, POP_PALETTES, StyleImages, render_styled
from styleinv_lib.data.synthetic import SynthFaces


@pytest.fixture(scope="module")
def renders():
    ds = SynthFaces(resolution=64, num_frames=3, seed=0)
    ident, factors, scene = ds.identity(6), ds.factors(6), ds.scene(6)
    return {s: render_styled(ident, factors, 64, s, scene=scene).float() for s in ALL_STYLES}


def test_shapes_and_photo_matches_synthfaces(renders):
    for s, v in renders.items():
        assert v.shape == (3, 64, 64, 3), s
    assert torch.equal(renders["photo"], SynthFaces(resolution=64, num_frames=3, seed=0).render(6).float())


def test_styles_differ_from_the_photo_and_each_other(renders):
    for i, a in enumerate(ART_STYLES):
        assert (renders[a] - renders["photo"]).abs().mean() > 10, a
        for b in ART_STYLES[i + 1:]:
            assert (renders[a] - renders[b]).abs().mean() > 10, (a, b)


def test_sketch_is_grey_pencil_on_paper(renders):
    v = renders["sketch"]
    paper = torch.tensor([0.96, 0.94, 0.89]) / 0.96
    grey = v / paper  # undo the warm paper tint: what is left must be grey
    chroma = (grey.max(-1).values - grey.min(-1).values).mean()
    assert chroma < 3, "a pencil sketch is grey on tinted paper, with no colour of its own"
    assert (v.mean(-1) > 200).float().mean() > 0.3, "mostly light paper"


def test_toon_is_flat_with_dark_outlines(renders):
    toon, photo = renders["toon"][0], renders["photo"][0]
    n_toon = len({tuple(p) for p in toon.reshape(-1, 3).int().tolist()})
    n_photo = len({tuple(p) for p in photo.reshape(-1, 3).int().tolist()})
    assert n_toon < n_photo * 0.6, "flat shading uses fewer colours than the shaded photo"
    assert (toon.mean(-1) < 45).float().mean() > 0.03, "outlines are drawn in dark ink"


def test_popart_uses_its_palette():
    img = StyleImages(style="popart", resolution=64, seed=0)
    v = img.render(0).float().reshape(-1, 3) / 255
    palettes = torch.tensor(POP_PALETTES).reshape(-1, 3)
    # every palette colour, its 35 % halftone-darkened version, and the black ink
    allowed = torch.cat([palettes, palettes * 0.65, torch.zeros(1, 3)])
    nearest = torch.cdist(v, allowed).min(1).values
    assert (nearest < 0.08).float().mean() > 0.8, "posterised: most pixels are palette colours"


def test_style_sets_are_deterministic_and_varied():
    a, b = StyleImages("toon", 32, seed=1, version=1), StyleImages("toon", 32, seed=1, version=1)
    assert torch.equal(a.render(5), b.render(5))
    imgs = torch.stack([a.render(i) for i in range(6)]).float()
    assert (imgs[1:] - imgs[:1]).abs().mean(dim=(1, 2, 3)).min() > 5
    meta = a.image_metadata(5)
    assert set(meta) == {"identity", "scene", "temperament", "t", "factors"}
    v2 = StyleImages("toon", 32, seed=1, version=2)
    assert v2.image_metadata(5)["scene"]["version"] == 2 and v2.image_metadata(5)["identity"]["shirt"] is None
    assert v2.image_metadata(5)["identity"]["face_shape"] == meta["identity"]["face_shape"], "the same face"
    assert not torch.equal(v2.render(5), a.render(5))


def test_unknown_style_is_refused():
    with pytest.raises(ValueError, match="unknown style 'oil'"):
        StyleImages(style="oil")
