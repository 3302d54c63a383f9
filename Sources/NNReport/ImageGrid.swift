import NN
import Foundation

/// Small images in rows and columns, each with caption lines underneath: the training samples,
/// the misclassified test images, the filters and the feature maps. It draws itself as one PNG
/// (captions in the bitmap font) and as HTML figures (one PNG data URI per tile, captions as text).
package struct ImageGrid {
    package struct Tile {
        package var image: RasterImage
        /// Lines under the image; may be empty.
        package var caption: [String]
        /// Caption colour in the PNG (e.g. red for a wrong prediction).
        package var captionColor: RGB
        /// Extra HTML attributes for the tile's `<figure>` (`data-index="7"`), already escaped.
        package var attributes: String
        /// The caption as HTML; defaults to the escaped lines joined by `<br>`.
        package var captionHTML: String?

        package init(image: RasterImage, caption: [String] = [], captionColor: RGB = .ink, attributes: String = "", captionHTML: String? = nil) {
            self.image = image; self.caption = caption; self.captionColor = captionColor
            self.attributes = attributes; self.captionHTML = captionHTML
        }
    }

    package var tiles: [Tile]
    package var columns: Int
    /// Pixels between tiles and around the grid.
    package var gap: Int
    /// Bitmap-font scale of the captions in the PNG.
    package var textScale: Int
    package var background: RGB

    package init(tiles: [Tile], columns: Int, gap: Int = 8, textScale: Int = 2, background: RGB = .white) {
        precondition(columns > 0, "an image grid needs at least one column")
        self.tiles = tiles; self.columns = columns; self.gap = gap; self.textScale = textScale; self.background = background
    }

    /// The whole grid as one RGB image: every cell as wide as the widest image or caption line.
    package func raster() -> RasterImage {
        guard !tiles.isEmpty else { return RasterImage(width: 2 * gap + 1, height: 2 * gap + 1, color: background) }
        let lineHeight = RasterImage.textHeight(scale: textScale) + 2 * textScale
        let cellWidth = tiles.map { t in max(t.image.width, t.caption.map { RasterImage.textWidth($0, scale: textScale) }.max() ?? 0) }.max()!
        let imageHeight = tiles.map(\.image.height).max()!
        let captionLines = tiles.map(\.caption.count).max()!
        let cellHeight = imageHeight + (captionLines > 0 ? textScale * 3 + captionLines * lineHeight : 0)
        let cols = min(columns, tiles.count)
        let rows = (tiles.count + cols - 1) / cols
        var img = RasterImage(width: gap + cols * (cellWidth + gap), height: gap + rows * (cellHeight + gap), color: background)
        for (k, tile) in tiles.enumerated() {
            let x = gap + (k % cols) * (cellWidth + gap), y = gap + (k / cols) * (cellHeight + gap)
            img.draw(tile.image, x: x + (cellWidth - tile.image.width) / 2, y: y)
            for (j, line) in tile.caption.enumerated() {
                let tw = RasterImage.textWidth(line, scale: textScale)
                img.text(line, x: x + (cellWidth - tw) / 2, y: y + imageHeight + textScale * 3 + j * lineHeight,
                         color: tile.captionColor, scale: textScale)
            }
        }
        return img
    }

    /// The grid as `<div class="grid">` of `<figure>`s in `columns` columns, each image a PNG data URI.
    package func html(alt: (Int) -> String = { "image \($0)" }) throws -> String {
        var s = "<div class=\"grid\" style=\"grid-template-columns: repeat(\(min(columns, max(1, tiles.count))), minmax(120px, max-content))\">\n"
        for (k, tile) in tiles.enumerated() {
            let uri = HTML.dataURI(png: try PNG.encode(tile.image))
            let attributes = tile.attributes.isEmpty ? "" : " " + tile.attributes
            s += "<figure\(attributes)><img src=\"\(uri)\" width=\"\(tile.image.width)\" height=\"\(tile.image.height)\" alt=\"\(HTML.escape(alt(k)))\">"
            let caption = tile.captionHTML ?? tile.caption.map(HTML.escape).joined(separator: "<br>")
            if !caption.isEmpty { s += "<figcaption>\(caption)</figcaption>" }
            s += "</figure>\n"
        }
        return s + "</div>"
    }
}
