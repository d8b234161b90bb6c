"""The Debian wallpaper photo corpus: a fixed split by photo, antialiased downscales cached as PNG, seeded crops."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from cnr.data import photo_corpus as pc
from cnr.errors import DataNotFoundError, InputError

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def installed(tmp_path, monkeypatch):
    missing = sorted({p.package for p in pc.INVENTORY if not Path(p.path).is_file()})
    if missing:
        pytest.skip(f"photo corpus packages not installed: {' '.join(missing)} (run `make data` as root)")
    monkeypatch.setenv("CNR_CACHE", str(tmp_path))
    return tmp_path


def test_splits_are_disjoint_cover_the_inventory_and_are_fixed():
    names = [p.name for p in pc.INVENTORY]
    assert len(names) == len(set(names)) == 36 and len({p.path for p in pc.INVENTORY}) == 36
    splits = {s: [p.name for p in pc.split_photos(s)] for s in pc.SPLITS}
    assert sorted(sum(splits.values(), [])) == sorted(names)  # cover, and (same length) disjoint
    assert {s: len(v) for s, v in splits.items()} == {"train": 25, "validation": 5, "test": 6}
    assert splits["test"] == ["LadyBird", "YellowFlower", "ColorfulCups", "EveningGlow", "Picture_0B", "friends"]
    for s in ("validation", "test"):  # every package is represented in the held-out splits
        assert {p.package for p in pc.split_photos(s)} == set(pc.PACKAGES)
    with pytest.raises(InputError, match="valid splits: test, train, validation"):
        pc.split_photos("val")


def test_readme_lists_every_photo_with_its_split_and_license():
    text = (REPO / "data" / "README.md").read_text()
    assert "no evaluation image" in text.lower()
    for p in pc.INVENTORY:
        row = f"| {p.source} | `{p.path}` | {p.size[0]}x{p.size[1]} | {p.license} | {p.split} |"
        assert row in text, row


def test_photos_are_unit_range_downscaled_and_cached(installed, monkeypatch):
    for split, max_side in (("validation", 512), ("test", 200)):
        photos = pc.corpus_photos(split, max_side=max_side)
        assert len(photos) == len(pc.split_photos(split))
        for p, x in zip(pc.split_photos(split), photos):
            w, h = p.size
            s = max_side / max(w, h)
            assert x.dtype == torch.float32 and tuple(x.shape) == (3, round(h * s), round(w * s))
            assert max(x.shape[1:]) == max_side and 0 <= x.min() and x.max() <= 1 and x.std() > 0.02
            assert (installed / f"photo-corpus-{pc.PROCESSING}" / f"max{max_side}" / f"{p.name}.png").is_file()
    first = pc.corpus_photos("validation")
    monkeypatch.setattr(pc, "_downscaled", lambda *a: pytest.fail("source decoded although cached"))
    again = pc.corpus_photos("validation")
    assert all(torch.equal(a, b) for a, b in zip(first, again))


def test_crops_are_deterministic_for_a_seed(installed):
    a = pc.corpus_crops("test", size=224, per_photo=3, seed=0)
    assert a.shape == (18, 3, 224, 224) and 0 <= a.min() and a.max() <= 1
    assert torch.equal(a, pc.corpus_crops("test", size=224, per_photo=3, seed=0))
    assert not torch.equal(a, pc.corpus_crops("test", size=224, per_photo=3, seed=1))
    photo = pc.corpus_photos("test")[0]  # crop 0 is a window of photo 0
    corners = (photo[:, : photo.shape[1] - 223, : photo.shape[2] - 223] == a[0, :, :1, :1]).all(0).nonzero().tolist()
    assert any(torch.equal(photo[:, y : y + 224, x : x + 224], a[0]) for y, x in corners)
    with pytest.raises(InputError, match="too small"):
        pc.corpus_crops("test", size=300, per_photo=1, max_side=256)


def test_missing_files_name_the_apt_command(tmp_path, monkeypatch):
    monkeypatch.setenv("CNR_CACHE", str(tmp_path))
    here = tmp_path / "present.jpg"
    here.touch()  # the other packages' files "exist" (whether installed here or not): only mate's are missing
    gone = tuple(p._replace(path="/nonexistent" + p.path if p.package == "mate-backgrounds" else str(here))
                 for p in pc.INVENTORY)
    monkeypatch.setattr(pc, "INVENTORY", gone)
    with pytest.raises(DataNotFoundError, match="sudo apt-get install --no-install-recommends mate-backgrounds$"):
        pc.corpus_photos("test")
    with pytest.raises(InputError, match="max_side"):
        pc.corpus_photos("test", max_side=0)


def test_patches_are_seeded_crops_of_one_split(installed):
    a = pc.corpus_patches("train", 12, 48, seed=3)
    assert a.shape == (12, 3, 48, 48) and 0 <= a.min() and a.max() <= 1
    assert torch.equal(a, pc.corpus_patches("train", 12, 48, seed=3))
    assert not torch.equal(a, pc.corpus_patches("train", 12, 48, seed=4))
    photos = pc.corpus_photos("train")

    def inside(patch: torch.Tensor) -> bool:  # a window of some train photo, possibly mirrored
        for img in photos:
            for p in (patch, patch.flip(-1)):
                hits = (img[:, : img.shape[1] - 47, : img.shape[2] - 47] == p[:, :1, :1]).all(0).nonzero().tolist()
                if any(torch.equal(img[:, y : y + 48, x : x + 48], p) for y, x in hits):
                    return True
        return False

    assert all(inside(p) for p in a[:3])
    with pytest.raises(InputError, match="exceeds every"):
        pc.corpus_patches("validation", 1, 600)
