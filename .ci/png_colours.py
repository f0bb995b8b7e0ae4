#!/usr/bin/env python3
"""Counts the pixels of the report page's bar colours in a PNG screenshot.

usage: png_colours.py SCREENSHOT [--expect-none]

Without --expect-none it fails unless both the colour of sent reports'
bars and that of waiting reports' bars cover a chart's worth of pixels;
with it, it fails if they cover any (the control page has no chart).
Reads 8-bit RGB and RGBA PNGs (what Chromium writes) with the standard
library alone.
"""
import struct
import sys
import zlib

# rect.sent and rect.waiting in telemetry-runtime/src/report_page.rs
COLOURS = {"sent": (0x2F, 0x6D, 0xB5), "waiting": (0xD9, 0x82, 0x2B)}
# A chart's bars are far larger than this; the legend's squares are smaller.
AT_LEAST = 2000


def pixels(path):
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        sys.exit(f"{path}: not a PNG")
    pos, idat, header = 8, b"", None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    width, height, depth, colour, _, _, interlace = header
    if depth != 8 or colour not in (2, 6) or interlace:
        sys.exit(f"{path}: unsupported PNG (depth {depth}, colour type {colour}, interlace {interlace})")
    channels = 3 if colour == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * channels
    previous = bytearray(stride)
    at = 0
    for _ in range(height):
        kind, line = raw[at], bytearray(raw[at + 1 : at + 1 + stride])
        at += 1 + stride
        for i in range(stride):
            left = line[i - channels] if i >= channels else 0
            up = previous[i]
            corner = previous[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                predictor = left if pa <= pb and pa <= pc else (up if pb <= pc else corner)
                line[i] = (line[i] + predictor) & 0xFF
        for x in range(width):
            yield tuple(line[x * channels : x * channels + 3])
        previous = line


def main():
    path = sys.argv[1]
    expect_none = "--expect-none" in sys.argv[2:]
    counts = {name: 0 for name in COLOURS}
    wanted = {rgb: name for name, rgb in COLOURS.items()}
    for rgb in pixels(path):
        name = wanted.get(rgb)
        if name:
            counts[name] += 1
    print(f"{path}: " + ", ".join(f"{n} {c} pixels" for n, c in counts.items()))
    if expect_none and any(counts.values()):
        sys.exit(f"{path}: bar colours where no chart should be")
    if not expect_none and any(c < AT_LEAST for c in counts.values()):
        sys.exit(f"{path}: the charts are not in the screenshot")


main()
