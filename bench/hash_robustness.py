"""PDQ robustness (issue #19): 200 pictures, each transformed (JPEG quality 50-90, resize
50-150%, 5% crop, a small text overlay, grayscale): the share still within distance 31 of the
original; and false matches of 10,000 unrelated pictures against the 200.

    PYTHONPATH=. .venv/bin/python bench/hash_robustness.py [--originals 200] [--unrelated 10000]

Pictures are tests.support.images.photo (a gradient under random shapes), not photographs:
real photos have more texture, so these numbers are indicative. Results: docs/benchmarks.md."""

from __future__ import annotations

import argparse
import io
import random
from collections.abc import Callable

from PIL import Image, ImageDraw

from moderation.banks.hashing import MIN_QUALITY, distance, hash_image
from moderation.banks.index import PdqIndex
from tests.support.images import photo

DISTANCE = 31


def _jpeg(img: Image.Image, quality: int) -> bytes:
    out = io.BytesIO()
    img.convert("RGB").save(out, format="JPEG", quality=quality)
    return out.getvalue()


def _transforms(rng: random.Random) -> dict[str, Callable[[Image.Image], bytes]]:
    def resize(img: Image.Image) -> bytes:
        scale = rng.uniform(0.5, 1.5)
        return _jpeg(img.resize((round(img.width * scale), round(img.height * scale))), 90)

    def crop(img: Image.Image) -> bytes:
        dx, dy = round(img.width * 0.05), round(img.height * 0.05)
        return _jpeg(img.crop((dx // 2, dy // 2, img.width - dx // 2, img.height - dy // 2)), 90)

    def text(img: Image.Image) -> bytes:
        marked = img.copy()
        ImageDraw.Draw(marked).text((8, img.height - 20), "@user 2026", fill=(255, 255, 255))
        return _jpeg(marked, 90)

    return {
        "jpeg q50-90": lambda img: _jpeg(img, rng.randint(50, 90)),
        "resize 50-150%": resize,
        "crop 5%": crop,
        "text overlay": text,
        "grayscale": lambda img: _jpeg(img.convert("L"), 90),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--originals", type=int, default=200)
    parser.add_argument("--unrelated", type=int, default=10_000)
    args = parser.parse_args()
    rng = random.Random(19)
    originals = [photo(seed=s) for s in range(args.originals)]
    hashes = [hash_image(_jpeg(img, 95)) for img in originals]
    print(
        f"originals with quality >= {MIN_QUALITY}: "
        f"{sum(h.quality >= MIN_QUALITY for h in hashes)}/{len(hashes)}"
    )
    print("| transform | matched at distance 31 | mean distance |")
    print("|---|---:|---:|")
    for name, transform in _transforms(rng).items():
        dists = [
            distance(h.pdq, hash_image(transform(img)).pdq)
            for img, h in zip(originals, hashes, strict=True)
        ]
        share = sum(d <= DISTANCE for d in dists) / len(dists)
        print(f"| {name} | {share:.1%} | {sum(dists) / len(dists):.1f} |", flush=True)
    index = PdqIndex()
    index.add([h.pdq for h in hashes], list(range(len(hashes))))
    false = 0
    for seed in range(100_000, 100_000 + args.unrelated):
        h = hash_image(_jpeg(photo(seed=seed), 90))
        if h.quality >= MIN_QUALITY and index.search([h.pdq], DISTANCE)[0]:
            false += 1
    print(f"false matches: {false} of {args.unrelated} unrelated pictures against {len(hashes)}")


if __name__ == "__main__":
    main()
