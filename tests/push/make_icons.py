"""Draw the installable app's icons (static/img/icon-192.png, icon-512.png) from the logo in icon.svg.

Run by hand after changing the logo: ``.venv/bin/python -m tests.push.make_icons``. The drawing
follows static/img/icon.svg (a 32-unit square): a blue rounded square with a white speech bubble
holding two blue lines. Drawn at 4x and scaled down, for smooth edges.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw

IMG = Path(__file__).resolve().parents[2] / "static" / "img"
BLUE = (59, 91, 219, 255)
WHITE = (255, 255, 255, 255)
SIZES = (192, 512)


def draw(size: int) -> Image.Image:
    big = size * 4
    u = big / 32  # one unit of the 32-unit SVG
    image = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    pen = ImageDraw.Draw(image)
    pen.rounded_rectangle((0, 0, big - 1, big - 1), radius=round(7 * u), fill=BLUE)
    pen.rounded_rectangle((6 * u, 10.5 * u, 26 * u, 22.5 * u), radius=round(2 * u), fill=WHITE)
    pen.polygon([(10 * u, 22 * u), (15 * u, 22 * u), (10 * u, 26.5 * u)], fill=WHITE)  # the bubble's tail
    width = round(1.8 * u)
    for x0, x1, y in ((11, 21, 15), (11, 17, 18.5)):
        pen.line((x0 * u, y * u, x1 * u, y * u), fill=BLUE, width=width)
        for x in (x0, x1):  # round caps
            r = width / 2
            pen.ellipse((x * u - r, y * u - r, x * u + r, y * u + r), fill=BLUE)
    return image.resize((size, size), Image.Resampling.LANCZOS)


def main() -> None:
    for size in SIZES:
        draw(size).save(IMG / f"icon-{size}.png", optimize=True)


if __name__ == "__main__":
    main()
