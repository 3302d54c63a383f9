/// A layer's reusable buffer for a whole batch: allocated for the largest batch seen, viewed with
/// the current batch size, so steady-state steps do not allocate.
struct BatchBuffer {
    private var storage: TensorStorage?
    private var view: Tensor?

    mutating func tensor(batch: Int, sampleShape: [Int]) -> Tensor {
        if let v = view, v.shape[0] == batch, v.shape.count == sampleShape.count + 1 { return v }
        let needed = batch * sampleShape.reduce(1, *)
        if storage == nil || storage!.capacity < needed { storage = TensorStorage(capacity: needed) }
        let v = Tensor(shape: [batch] + sampleShape, storage: storage!)
        view = v
        return v
    }
}
