#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_png: tiny valid PNGs of every colour type and a few bit depths,
one interlaced, built with zlib and struct only (no .png suffix, which .gitignore hides).
Usage: make_png_seeds.py DIR"""
import os
import struct
import sys
import zlib


def chunk(kind, data):
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)


def png(w, h, colour, depth, rows, plte=None, trns=None, interlace=0):
    out = b"\x89PNG\r\n\x1a\n"
    out += chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, colour, 0, 0, interlace))
    if plte is not None:
        out += chunk(b"PLTE", plte)
    if trns is not None:
        out += chunk(b"tRNS", trns)
    out += chunk(b"IDAT", zlib.compress(b"".join(rows), 9))
    return out + chunk(b"IEND", b"")


def raw_rows(w, h, channels, depth, filt=0):
    """Rows of the given filter type (0 none, 1 sub, 2 up, ...): the values do not matter."""
    bits = w * channels * depth
    n = (bits + 7) // 8
    return [bytes([filt]) + bytes((x * 37 + y * 101) & 0xFF for x in range(n)) for y in range(h)]


def adam7_rows(w, h, channels, depth):
    passes = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2),
              (0, 1, 1, 2)]
    rows = []
    for x0, y0, dx, dy in passes:
        pw = (w - x0 + dx - 1) // dx if w > x0 else 0
        ph = (h - y0 + dy - 1) // dy if h > y0 else 0
        if pw and ph:
            rows += raw_rows(pw, ph, channels, depth)
    return rows


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    seeds = {
        "gray1": png(5, 3, 0, 1, raw_rows(5, 3, 1, 1)),
        "gray8": png(4, 3, 0, 8, raw_rows(4, 3, 1, 8, 1)),
        "gray16": png(3, 2, 0, 16, raw_rows(3, 2, 1, 16, 2)),
        "rgb8": png(4, 4, 2, 8, raw_rows(4, 4, 3, 8, 4)),
        "rgb16": png(2, 2, 2, 16, raw_rows(2, 2, 3, 16)),
        "palette4": png(5, 2, 3, 4, [bytes([0, 0x01, 0x23, 0x10])] * 2,
                            plte=bytes(range(48)), trns=bytes([0, 128])),
        "palette8": png(3, 3, 3, 8, [bytes([0, 0, 1, 2])] * 3, plte=bytes(range(9))),
        "gray-alpha8": png(3, 3, 4, 8, raw_rows(3, 3, 2, 8, 3)),
        "rgba8": png(4, 2, 6, 8, raw_rows(4, 2, 4, 8)),
        "rgba8-interlaced": png(9, 9, 6, 8, adam7_rows(9, 9, 4, 8), interlace=1),
    }
    for name, data in seeds.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
