"""Turns a photo into a Y4M video for Chromium's fake camera (--use-file-for-fake-video-capture):
the same picture in every frame, 4:2:0, with luma and chroma in video range as Y4M readers expect.

usage: python y4m.py PHOTO OUT.y4m
"""

import sys

from PIL import Image

FRAMES = 30


def video_range(channel, high):
    # Full-range 0..255 (JPEG) to video range: luma 16..235, chroma 16..240.
    return channel.point(lambda v: 16 + v * (high - 16) // 255)


def main(photo, out_path):
    image = Image.open(photo).convert("RGB")
    width, height = image.size[0] - image.size[0] % 2, image.size[1] - image.size[1] % 2
    y, cb, cr = image.crop((0, 0, width, height)).convert("YCbCr").split()
    half = (width // 2, height // 2)
    frame = (
        video_range(y, 235).tobytes()
        + video_range(cb.resize(half, Image.BILINEAR), 240).tobytes()
        + video_range(cr.resize(half, Image.BILINEAR), 240).tobytes()
    )
    with open(out_path, "wb") as out:
        out.write(f"YUV4MPEG2 W{width} H{height} F30:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(FRAMES):
            out.write(b"FRAME\n" + frame)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
