import XCTest
import Foundation
import CPNG
import CTurboJPEG
import NN
@testable import NNImages

// Test images made in the test: PNG through libpng's simplified writer, JPEG through TurboJPEG.

/// PNG bytes of `pixels` (8-bit, 1 to 4 channels).
func encodePNG(width: Int, height: Int, channels: Int, pixels: [UInt8]) -> Data {
    var png = png_image()
    png.version = UInt32(PNG_IMAGE_VERSION)
    png.width = UInt32(width)
    png.height = UInt32(height)
    let color = UInt32(PNG_FORMAT_FLAG_COLOR), alpha = UInt32(PNG_FORMAT_FLAG_ALPHA)
    png.format = [0, alpha, color, color | alpha][channels - 1]
    var size: png_alloc_size_t = 0
    precondition(png_image_write_to_memory(&png, nil, &size, 0, pixels, Int32(width * channels), nil) != 0)
    var out = Data(count: Int(size))
    let ok = out.withUnsafeMutableBytes { png_image_write_to_memory(&png, $0.baseAddress, &size, 0, pixels, Int32(width * channels), nil) }
    precondition(ok != 0)
    out.count = Int(size)
    return out
}

/// JPEG bytes of RGB (`channels` 3) or gray (1) pixels at `quality`, 4:4:4 (or gray) sampling.
func encodeJPEG(width: Int, height: Int, channels: Int, pixels: [UInt8], quality: Int32 = 100) -> Data {
    let handle = tjInitCompress()!
    defer { tjDestroy(handle) }
    var buffer: UnsafeMutablePointer<UInt8>? = nil
    var size: UInt = 0
    let format = channels == 1 ? TJPF_GRAY : TJPF_RGB
    let sampling = channels == 1 ? TJSAMP_GRAY : TJSAMP_444
    let status = tjCompress2(handle, pixels, Int32(width), 0, Int32(height), format.rawValue, &buffer, &size,
                             Int32(sampling.rawValue), quality, 0)
    precondition(status == 0, String(cString: tjGetErrorStr2(handle)))
    defer { tjFree(buffer) }
    return Data(bytes: buffer!, count: Int(size))
}

/// The fixtures' picture: 16×16, four 8×8 blocks red, green, blue, (200, 150, 50).
let fixtureBlocks: [[UInt8]] = [[255, 0, 0], [0, 255, 0], [0, 0, 255], [200, 150, 50]]
func fixturePixel(_ y: Int, _ x: Int) -> [UInt8] { fixtureBlocks[(y / 8) * 2 + x / 8] }
var fixtureDirectory: String { URL(fileURLWithPath: #filePath).deletingLastPathComponent().path + "/Fixtures/images" }

/// A message check: the error's text names `path` and contains `words`.
func assertError(_ expression: @autoclosure () throws -> some Any, names path: String, _ words: String...,
                 file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertThrowsError(try expression(), file: file, line: line) { error in
        let text = "\(error)"
        XCTAssertTrue(text.contains(path), "'\(text)' does not name \(path)", file: file, line: line)
        for w in words { XCTAssertTrue(text.contains(w), "'\(text)' does not say '\(w)'", file: file, line: line) }
    }
}

final class ImageDecodingTests: TemporaryDirectoryTestCase {
    func pattern(_ count: Int, seed: UInt64) -> [UInt8] {
        var g = RandomGenerator(seed: seed)
        return (0..<count).map { _ in UInt8(truncatingIfNeeded: g.next()) }
    }

    func blocks(width: Int, height: Int) -> [UInt8] {
        var out: [UInt8] = []
        for y in 0..<height {
            for x in 0..<width {
                let block: Int = (y * 2 / height) * 2 + x * 2 / width
                out += fixtureBlocks[block]
            }
        }
        return out
    }

    // MARK: PNG

    func testPNGEightBitFormatsDecodeExactly() throws {
        for channels in 1...4 {
            let pixels = pattern(5 * 3 * channels, seed: UInt64(channels))
            let image = try ImageFile.decode(data: encodePNG(width: 5, height: 3, channels: channels, pixels: pixels), name: "p.png")
            XCTAssertEqual(image, DecodedImage(width: 5, height: 3, channels: channels, pixels: pixels), "channels \(channels)")
            let header = try ImageFile.header(data: encodePNG(width: 5, height: 3, channels: channels, pixels: pixels), name: "p.png")
            XCTAssertEqual(header, ImageHeader(format: .png, width: 5, height: 3, channels: channels))
        }
    }

    func testFixturesDecodeToTheSourcePixels() throws {
        // PNG palette, interlaced (Adam7), 16-bit; BMP 24-bit and 4-bit palette; GIF: exact.
        for name in ["palette.png", "interlaced.png", "rgb16.png", "rgb24.bmp", "palette8.bmp", "first.gif"] {
            let image = try ImageFile.decode(path: fixtureDirectory + "/" + name)
            XCTAssertEqual([image.width, image.height, image.channels], [16, 16, 3], name)
            for y in 0..<16 { for x in 0..<16 {
                XCTAssertEqual((0..<3).map { image[y, x, $0] }, fixturePixel(y, x), "\(name) at \(y),\(x)")
            } }
        }
        // JPEG progressive and CMYK (Adobe, inverted): within JPEG's loss of the source.
        for name in ["progressive.jpg", "cmyk.jpg"] {
            let image = try ImageFile.decode(path: fixtureDirectory + "/" + name)
            XCTAssertEqual([image.width, image.height, image.channels], [16, 16, 3], name)
            for y in 0..<16 { for x in 0..<16 { for c in 0..<3 {
                XCTAssertLessThanOrEqual(abs(Int(image[y, x, c]) - Int(fixturePixel(y, x)[c])), 3, "\(name) at \(y),\(x),\(c)")
            } } }
        }
        let progressive = try Data(contentsOf: URL(fileURLWithPath: fixtureDirectory + "/progressive.jpg"))
        XCTAssertNotNil(progressive.firstRange(of: Data([0xFF, 0xC2])), "the fixture is progressive (SOF2)")
    }

    func testSixteenBitPNGIsScaledToEightBits() throws {
        // TensorFlow gives v >> 8; libpng's simplified API round(v / 257): equal when v = 257·b.
        let image = try ImageFile.decode(path: fixtureDirectory + "/rgb16.png")
        XCTAssertEqual((0..<3).map { image[15, 15, $0] }, [200, 150, 50])
    }

    // MARK: JPEG

    func testBaselineAndGrayJPEG() throws {
        let rgb = blocks(width: 16, height: 16)
        let image = try ImageFile.decode(data: encodeJPEG(width: 16, height: 16, channels: 3, pixels: rgb), name: "b.jpg")
        XCTAssertEqual([image.width, image.height, image.channels], [16, 16, 3])
        XCTAssertLessThanOrEqual(zip(image.pixels, rgb).map { abs(Int($0) - Int($1)) }.max()!, 3)

        let g = try ImageFile.decode(data: encodeJPEG(width: 8, height: 8, channels: 1, pixels: [UInt8](repeating: 90, count: 64)), name: "g.jpg")
        XCTAssertEqual(g.channels, 1)
        XCTAssertEqual(g.pixels, [UInt8](repeating: 90, count: 64))
        // One channel of a colour JPEG is libjpeg's luma (TensorFlow's decode_jpeg(channels: 1)).
        let luma = try ImageFile.decode(data: encodeJPEG(width: 16, height: 16, channels: 3, pixels: rgb), name: "b.jpg", channels: 1)
        XCTAssertEqual(luma.channels, 1)
        XCTAssertLessThanOrEqual(abs(Int(luma[0, 0, 0]) - 76), 2, "red's luma is 0.299 · 255")
    }

    // MARK: Channels

    func testChannelConversionsFollowDecodeImage() {
        let rgb = DecodedImage(width: 4, height: 1, channels: 3, pixels: [255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 200, 90])
        // TensorFlow 2.21: decode_image(png, channels: 1) of these pixels.
        XCTAssertEqual(rgb.converted(to: 1).pixels, [76, 149, 29, 130])
        XCTAssertEqual(rgb.converted(to: 4).pixels, [255, 0, 0, 255, 0, 255, 0, 255, 0, 0, 255, 255, 10, 200, 90, 255])
        let rgba = DecodedImage(width: 2, height: 1, channels: 4, pixels: [255, 0, 0, 0, 0, 255, 0, 128])
        XCTAssertEqual(rgba.converted(to: 3).pixels, [255, 0, 0, 0, 255, 0], "alpha dropped, not composited")
        XCTAssertEqual(rgba.converted(to: 1).pixels, [76, 149])
        let ga = DecodedImage(width: 2, height: 1, channels: 2, pixels: [100, 0, 200, 128])
        XCTAssertEqual(ga.converted(to: 4).pixels, [100, 100, 100, 0, 200, 200, 200, 128])
        XCTAssertEqual(ga.converted(to: 3).pixels, [100, 100, 100, 200, 200, 200])
        XCTAssertEqual(ga.converted(to: 1).pixels, [100, 200])
        let gray = DecodedImage(width: 1, height: 1, channels: 1, pixels: [7])
        XCTAssertEqual(gray.converted(to: 4).pixels, [7, 7, 7, 255])
        XCTAssertEqual(gray.converted(to: 2).pixels, [7, 255])
    }

    // MARK: Resize

    func testBilinearUpscaleMatchesHandComputedHalfPixelValues() throws {
        let image = DecodedImage(width: 2, height: 2, channels: 1, pixels: [0, 10, 20, 30])
        let t = try image.resized(height: 4, width: 4)
        XCTAssertEqual(t.shape, [4, 4, 1])
        XCTAssertEqual(t.elements, [0, 2.5, 7.5, 10, 5, 7.5, 12.5, 15, 15, 17.5, 22.5, 25, 20, 22.5, 27.5, 30])
    }

    func testBilinearDownscaleAveragesAndNearestPicks() throws {
        let image = DecodedImage(width: 4, height: 4, channels: 1, pixels: (0..<16).map { UInt8($0 * 10) })
        XCTAssertEqual(try image.resized(height: 2, width: 2).elements, [25, 45, 105, 125])
        XCTAssertEqual(try image.resized(height: 2, width: 2, interpolation: .nearest).elements, [50, 70, 130, 150])
        XCTAssertEqual(try image.resized(height: 4, width: 4).elements, (0..<16).map { Float($0 * 10) }, "same size is the identity")
        // Non-integer scale, 3 → 2: positions 0.25 and 1.75.
        let row = DecodedImage(width: 3, height: 1, channels: 1, pixels: [0, 100, 200])
        XCTAssertEqual(try row.resized(height: 1, width: 2).elements, [25, 175])
    }

    func testCropToAspectRatioKeepsTheCentre() throws {
        // 2 high × 4 wide to 2×2: Keras keeps columns 1…2.
        let image = DecodedImage(width: 4, height: 2, channels: 1, pixels: [0, 1, 2, 3, 4, 5, 6, 7])
        XCTAssertEqual(try image.resized(height: 2, width: 2, cropToAspectRatio: true).elements, [1, 2, 5, 6])
        XCTAssertEqual(CropWindow(imageHeight: 480, imageWidth: 640, targetHeight: 100, targetWidth: 100, crop: true),
                       CropWindow(imageHeight: 480, imageWidth: 640, targetHeight: 1, targetWidth: 1, crop: false).with(top: 0, left: 80, height: 480, width: 480))
        XCTAssertEqual(CropWindow(imageHeight: 5, imageWidth: 3, targetHeight: 2, targetWidth: 3, crop: true),
                       CropWindow(imageHeight: 1, imageWidth: 1, targetHeight: 1, targetWidth: 1, crop: false).with(top: 1, left: 0, height: 2, width: 3))
    }

    func testMultiChannelResizeInterpolatesEachChannel() throws {
        let image = DecodedImage(width: 2, height: 1, channels: 3, pixels: [0, 100, 200, 100, 0, 40])
        let t = try image.resized(height: 1, width: 4)
        XCTAssertEqual(t.elements, [0, 100, 200, 25, 75, 160, 75, 25, 80, 100, 0, 40])
    }

    // MARK: Bad input

    func testFormatIsToldByContentNotName() throws {
        let png = encodePNG(width: 2, height: 1, channels: 3, pixels: [1, 2, 3, 4, 5, 6])
        let path = dir + "/actually-png.jpg"
        try png.write(to: URL(fileURLWithPath: path))
        XCTAssertEqual(try ImageFile.decode(path: path).pixels, [1, 2, 3, 4, 5, 6])
        XCTAssertEqual(try ImageFile.header(path: path).format, .png)

        let text = dir + "/notes.png"
        try "hello, this is a note\nsecond line".write(toFile: text, atomically: true, encoding: .utf8)
        assertError(try ImageFile.decode(path: text), names: text, "not a PNG, JPEG, BMP or GIF", "text (starting \"hello, this is a note\")")
        let empty = dir + "/empty.jpg"
        FileManager.default.createFile(atPath: empty, contents: Data())
        assertError(try ImageFile.decode(path: empty), names: empty, "empty")
        let zip = dir + "/x.gif"
        try Data([0x50, 0x4B, 0x03, 0x04, 0, 0]).write(to: URL(fileURLWithPath: zip))
        assertError(try ImageFile.header(path: zip), names: zip, "ZIP archive")
        assertError(try ImageFile.decode(path: dir + "/missing.png"), names: dir + "/missing.png", "no such file")
        assertError(try ImageFile.decode(path: dir), names: dir, "directory")
    }

    func testTruncatedAndCorruptFilesAreErrorsNamingTheFile() throws {
        let png = encodePNG(width: 16, height: 16, channels: 3, pixels: pattern(16 * 16 * 3, seed: 9))
        for cut in [9, 20, 40, png.count / 2, png.count - 13] {
            assertError(try ImageFile.decode(data: png.prefix(cut), name: "cut.png"), names: "cut.png", "PNG image")
        }
        var flipped = png
        flipped[png.count / 2] ^= 0xFF
        assertError(try ImageFile.decode(data: flipped, name: "flip.png"), names: "flip.png", "PNG image")

        let jpeg = encodeJPEG(width: 16, height: 16, channels: 3, pixels: pattern(16 * 16 * 3, seed: 4))
        for cut in [3, 20, jpeg.count / 2, jpeg.count - 2] {
            assertError(try ImageFile.decode(data: jpeg.prefix(cut), name: "cut.jpg"), names: "cut.jpg", "JPEG image")
        }
        var garbage = jpeg
        for i in 200..<min(260, jpeg.count) { garbage[i] = 0xFF }
        // Corrupt entropy data may decode to noise (libjpeg recovers) or fail: never crash.
        _ = try? ImageFile.decode(data: garbage, name: "garbage.jpg")

        let gif = try Data(contentsOf: URL(fileURLWithPath: fixtureDirectory + "/first.gif"))
        for cut in [10, 20, gif.count - 8] {
            assertError(try ImageFile.decode(data: gif.prefix(cut), name: "cut.gif"), names: "cut.gif", "GIF image")
        }
        let bmp = try Data(contentsOf: URL(fileURLWithPath: fixtureDirectory + "/rgb24.bmp"))
        for cut in [2, 20, 60, bmp.count - 1] {
            assertError(try ImageFile.decode(data: bmp.prefix(cut), name: "cut.bmp"), names: "cut.bmp", "BMP image")
        }
    }

    func testAbsurdAndZeroDimensionsAreRefusedBeforeAllocating() throws {
        // JPEG: SOF0 patched to 65535×65535 (4.3 billion pixels) and to a zero height.
        let jpeg = encodeJPEG(width: 8, height: 8, channels: 3, pixels: [UInt8](repeating: 50, count: 192))
        let sof = jpeg.firstRange(of: Data([0xFF, 0xC0]))!.lowerBound
        var huge = jpeg
        huge.replaceSubrange((sof + 5)..<(sof + 9), with: [0xFF, 0xFF, 0xFF, 0xFF])
        assertError(try ImageFile.decode(data: huge, name: "huge.jpg"), names: "huge.jpg", "JPEG image")
        var zero = jpeg
        zero.replaceSubrange((sof + 5)..<(sof + 7), with: [0, 0])
        assertError(try ImageFile.decode(data: zero, name: "zero.jpg"), names: "zero.jpg", "JPEG image")

        // GIF: logical screen 65535×65535, then 0×0.
        var gif = try Data(contentsOf: URL(fileURLWithPath: fixtureDirectory + "/first.gif"))
        gif.replaceSubrange(6..<10, with: [0xFF, 0xFF, 0xFF, 0xFF])
        assertError(try ImageFile.decode(data: gif, name: "huge.gif"), names: "huge.gif", "exceed the limit")
        gif.replaceSubrange(6..<10, with: [0, 0, 0, 0])
        assertError(try ImageFile.decode(data: gif, name: "zero.gif"), names: "zero.gif", "no pixels")

        // BMP: 2^31−1 × 2^31−1, 0 wide, and Int32.min high.
        var bmp = try Data(contentsOf: URL(fileURLWithPath: fixtureDirectory + "/rgb24.bmp"))
        bmp.replaceSubrange(18..<26, with: [0xFF, 0xFF, 0xFF, 0x7F, 0xFF, 0xFF, 0xFF, 0x7F])
        assertError(try ImageFile.decode(data: bmp, name: "huge.bmp"), names: "huge.bmp", "exceed the limit")
        bmp.replaceSubrange(18..<26, with: [0, 0, 0, 0, 16, 0, 0, 0])
        assertError(try ImageFile.decode(data: bmp, name: "zero.bmp"), names: "zero.bmp", "no pixels")
        bmp.replaceSubrange(18..<26, with: [16, 0, 0, 0, 0, 0, 0, 0x80])
        assertError(try ImageFile.decode(data: bmp, name: "min.bmp"), names: "min.bmp", "BMP image")

        // PNG: IHDR patched to 2^31−1 wide (with a correct CRC, so libpng reads the size).
        var png = encodePNG(width: 2, height: 2, channels: 1, pixels: [1, 2, 3, 4])
        png.replaceSubrange(16..<20, with: [0x7F, 0xFF, 0xFF, 0xFF])
        let crc = crc32(Array(png[12..<29]))
        png.replaceSubrange(29..<33, with: [UInt8(crc >> 24), UInt8(crc >> 16 & 0xFF), UInt8(crc >> 8 & 0xFF), UInt8(crc & 0xFF)])
        assertError(try ImageFile.decode(data: png, name: "huge.png"), names: "huge.png", "PNG image")
    }

    func testChannelsArgumentIsChecked() {
        XCTAssertThrowsError(try ImageFile.decode(data: Data(), name: "x.png", channels: 5))
    }

    private func crc32(_ bytes: [UInt8]) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for b in bytes {
            c ^= UInt32(b)
            for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        }
        return ~c
    }
}

extension CropWindow {
    func with(top: Int, left: Int, height: Int, width: Int) -> CropWindow {
        var w = self
        (w.top, w.left, w.height, w.width) = (top, left, height, width)
        return w
    }
}
