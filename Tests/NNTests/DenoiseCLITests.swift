import XCTest
import NN
@testable import NNReport

/// `cnn denoise` end to end on the harness's tiny MNIST-format directory: it trains the U-Net,
/// prints the noisy and denoised test MSE, writes the PNG strip and saves a `.keras` model; bad
/// flags are named.
final class DenoiseCLITests: CLITestCase {
    func testDenoiseTrainsPrintsMSEAndWritesThePNG() throws {
        let data = try makeData()
        let png = work + "/strip.png", saved = work + "/unet.keras"
        let run = try cnn(["denoise", "--data", data, "--train-count", "32", "--test-count", "8", "--epochs", "2", "--batch-size", "8",
                           "--filters", "4", "--learning-rate", "0.01", "--png", png, "--png-images", "4", "--save", saved, "--threads", "1"])
        XCTAssertEqual(run.status, 0, run.all)
        for text in ["up1_transpose (Conv2DTranspose)", "up1_concat (Concatenate)", "test MSE over 8 images: noisy", "wrote \(png)"] {
            XCTAssertTrue(run.stdout.contains(text), "output lacks \(text):\n\(run.stdout)")
        }
        let image = try PNG.read(png)
        // Three rows of four 84×84 tiles with captions.
        XCTAssertGreaterThan(image.width, 4 * 84)
        XCTAssertGreaterThan(image.height, 3 * 84)
        XCTAssertTrue(FileManager.default.fileExists(atPath: saved))
    }

    func testDenoiseRefusesBadFlags() throws {
        for (flags, named) in [(["--loss", "hinge"], "--loss"), (["--noise", "-1"], "--noise"), (["--epochs", "0"], "--epochs")] {
            let run = try cnn(["denoise"] + flags)
            XCTAssertNotEqual(run.status, 0, flags.joined(separator: " "))
            XCTAssertTrue(run.stderr.contains(named), "\(flags): \(run.stderr)")
        }
    }
}
