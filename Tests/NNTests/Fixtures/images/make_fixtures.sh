#!/bin/sh
# Regenerates the image fixtures (ImageMagick 6 `convert`, Debian package imagemagick).
# source.ppm: 16×16 RGB, four 8×8 solid blocks (red, green, blue, (200,150,50)) so that JPEG
# round trips stay within a few levels of the source.
set -e
cd "$(dirname "$0")"
python3 - <<'PY'
w = h = 16
blocks = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (200, 150, 50)]
px = bytearray()
for y in range(h):
    for x in range(w):
        px += bytes(blocks[(y // 8) * 2 + x // 8])
open("source.ppm", "wb").write(b"P6\n16 16\n255\n" + bytes(px))
PY
convert source.ppm -define png:exclude-chunks=gAMA,cHRM,sRGB,date,tIME,bKGD PNG8:palette.png
convert source.ppm -interlace PNG -define png:exclude-chunks=gAMA,cHRM,sRGB,date,tIME,bKGD PNG24:interlaced.png
convert source.ppm -depth 16 -define png:exclude-chunks=gAMA,cHRM,sRGB,date,tIME,bKGD PNG48:rgb16.png
convert source.ppm -quality 95 -interlace JPEG progressive.jpg
convert source.ppm -quality 95 -colorspace CMYK cmyk.jpg
convert source.ppm -type TrueColor BMP3:rgb24.bmp
convert source.ppm -type Palette BMP3:palette8.bmp
convert source.ppm gif:first.gif
