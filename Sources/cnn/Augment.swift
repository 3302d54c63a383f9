import ArgumentParser
import NN

/// `--augment flip,rotation=0.1,zoom=0.1,…`: Keras's augmentation layers, in front of the model in
/// the order given. A factor is one number or a range `low:high`, as Keras's layers take them.
enum Augment {
    static let names = ["flip", "rotation", "zoom", "translation", "contrast", "brightness"]

    /// The layers `text` asks for; `valueRange` is the pixels' (0...1 for the engine's data, 0...255
    /// for a model that rescales them itself) for contrast and brightness.
    static func layers(_ text: String, valueRange: ClosedRange<Float>) throws -> [Layer] {
        var layers: [Layer] = []
        for item in text.split(separator: ",", omittingEmptySubsequences: false).map({ $0.trimmingCharacters(in: .whitespaces) }) {
            let parts = item.split(separator: "=", maxSplits: 1).map(String.init)
            guard let name = parts.first, names.contains(name) else {
                throw ValidationError("--augment: '\(item)' is not one of \(names.joined(separator: ", ")) (e.g. flip,rotation=0.1,zoom=0.1)")
            }
            let value = parts.count == 2 ? parts[1] : nil
            func factor() throws -> AugmentationFactor {
                guard let value else { throw ValidationError("--augment: \(name) needs a factor, e.g. \(name)=0.1") }
                let numbers = value.split(separator: ":", omittingEmptySubsequences: false).map { Float($0) }
                guard (1...2).contains(numbers.count), numbers.allSatisfy({ $0?.isFinite == true }) else {
                    throw ValidationError("--augment: \(name)=\(value) is not a number or a range low:high")
                }
                return numbers.count == 1 ? AugmentationFactor(numbers[0]!) : AugmentationFactor(numbers[0]!, numbers[1]!)
            }
            switch name {
            case "flip":
                let modes: [String: RandomFlip.Mode] = ["horizontal": .horizontal, "vertical": .vertical, "both": .horizontalAndVertical]
                guard let mode = modes[value ?? "horizontal"] else {
                    throw ValidationError("--augment: flip=\(value ?? "") must be horizontal, vertical or both")
                }
                layers.append(RandomFlip(mode: mode))
            case "rotation": layers.append(RandomRotation(factor: try factor()))
            case "zoom": layers.append(RandomZoom(heightFactor: try factor()))
            case "translation": let f = try factor(); layers.append(RandomTranslation(heightFactor: f, widthFactor: f))
            case "contrast": layers.append(RandomContrast(factor: try factor(), valueRange: valueRange))
            default: layers.append(RandomBrightness(factor: try factor(), valueRange: valueRange))
            }
        }
        return layers
    }
}
