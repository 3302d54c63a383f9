import Foundation

/// The scalars the reference runs on: a binary floating-point type with the three transcendental
/// functions the layers need. Float is what the engine computes in; Double is for tight gradient checks.
public protocol RefScalar: BinaryFloatingPoint, Sendable {
    static func refExp(_ x: Self) -> Self
    static func refLog(_ x: Self) -> Self
    static func refTanh(_ x: Self) -> Self
}

extension Float: RefScalar {
    @inlinable public static func refExp(_ x: Float) -> Float { exp(x) }
    @inlinable public static func refLog(_ x: Float) -> Float { log(x) }
    @inlinable public static func refTanh(_ x: Float) -> Float { tanh(x) }
}

extension Double: RefScalar {
    @inlinable public static func refExp(_ x: Double) -> Double { exp(x) }
    @inlinable public static func refLog(_ x: Double) -> Double { log(x) }
    @inlinable public static func refTanh(_ x: Double) -> Double { tanh(x) }
}
