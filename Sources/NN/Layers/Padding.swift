/// Keras/TensorFlow padding. `.same` keeps `ceil(in / stride)` outputs and, when the total padding is
/// odd, puts the extra row or column at the bottom or right.
public enum Padding: String, Sendable, CaseIterable {
    case valid
    case same
}
