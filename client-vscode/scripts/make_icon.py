# Usage: python client-vscode/scripts/make_icon.py client-vscode/media/icon.png
"""Draws client-vscode/media/icon.png (128x128) without image libraries: a PyTorch-orange
rounded square with a white check mark, 4x supersampled."""

import math
import struct
import sys
import zlib

N, S = 128, 4
W = N * S


def inside_rounded(x, y, r=22 * S, m=4 * S):
    x0, y0, x1, y1 = m, m, W - m, W - m
    cx = min(max(x, x0 + r), x1 - r)
    cy = min(max(y, y0 + r), y1 - r)
    return (x - cx) ** 2 + (y - cy) ** 2 <= r * r and x0 <= x <= x1 and y0 <= y <= y1


def seg_dist(px, py, ax, ay, bx, by):
    dx, dy = bx - ax, by - ay
    t = max(0, min(1, ((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy)))
    return math.hypot(px - (ax + t * dx), py - (ay + t * dy))


P = [(34 * S, 68 * S), (56 * S, 90 * S), (96 * S, 42 * S)]


def pixel(x, y):
    if not inside_rounded(x, y):
        return None
    d = min(seg_dist(x, y, *P[0], *P[1]), seg_dist(x, y, *P[1], *P[2]))
    if d <= 9 * S:
        return (255, 255, 255)
    return (238, 76, 44)


rows = []
for j in range(N):
    row = bytearray([0])
    for i in range(N):
        acc = [0, 0, 0, 0]
        for sy in range(S):
            for sx in range(S):
                c = pixel(i * S + sx + 0.5, j * S + sy + 0.5)
                if c is not None:
                    acc[0] += c[0]
                    acc[1] += c[1]
                    acc[2] += c[2]
                    acc[3] += 255
        n = S * S
        a = acc[3] // n
        if a:
            k = acc[3] / 255
            row += bytes([int(acc[0] / k), int(acc[1] / k), int(acc[2] / k), a])
        else:
            row += bytes([0, 0, 0, 0])
    rows.append(bytes(row))


def chunk(t, d):
    return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)


png = (
    b"\x89PNG\r\n\x1a\n"
    + chunk(b"IHDR", struct.pack(">IIBBBBB", N, N, 8, 6, 0, 0, 0))
    + chunk(b"IDAT", zlib.compress(b"".join(rows), 9))
    + chunk(b"IEND", b"")
)
with open(sys.argv[1], "wb") as out:
    out.write(png)
