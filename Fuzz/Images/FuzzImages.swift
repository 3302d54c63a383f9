// libFuzzer target for the image decoders (PNG, JPEG, BMP, GIF, told apart by content) and the
// resize that follows them in an ImageFolder. Built by scripts/fuzz into the one fuzz binary with
// the engine's sources, so it calls the internal API directly (no `import NNImages`); wiring it in
// needs the CPNG and CTurboJPEG module maps and -lpng -lturbojpeg.
//
// Any input must decode or throw an error naming the file, never crash; a decoded image must be
// the size its header announced and must resize (bilinear, nearest, cropped) to 8×8 finite values
// in 0…255. Headers claiming more than 2^22 pixels are only checked, not decoded, to keep each
// run fast (the size limit itself is what the header path exercises).
import Foundation

/// The `images` target (see Fuzz/Main/FuzzMain.swift).
func fuzzImages(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Data(bytes: data, count: size)
    guard let header = try? ImageFile.header(data: bytes, name: "fuzz") else {
        _ = try? ImageFile.decode(data: bytes, name: "fuzz")  // a bad header must fail here too
        return 0
    }
    guard header.width * header.height <= 1 << 22 else { return 0 }
    for channels in [nil, 1, 3, 4] as [Int?] {
        guard let image = try? ImageFile.decode(data: bytes, name: "fuzz", channels: channels) else { continue }
        guard image.width == header.width, image.height == header.height,
              image.channels == (channels ?? header.channels) else {
            fatalError("decoded \(image.width)×\(image.height)×\(image.channels), header said \(header)")
        }
        for (interpolation, crop) in [(Interpolation.bilinear, false), (.nearest, false), (.bilinear, true)] {
            guard let t = try? image.resized(height: 8, width: 8, interpolation: interpolation, cropToAspectRatio: crop) else {
                fatalError("resizing a decoded \(image.width)×\(image.height) image failed")
            }
            for i in 0..<t.count where !(t[flat: i] >= 0 && t[flat: i] <= 255) {
                fatalError("resized value \(t[flat: i]) outside 0…255")
            }
        }
    }
    return 0
}
