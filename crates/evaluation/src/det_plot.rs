//! The DET picture: false reject rate against false accept rate, both on log scales, one line per
//! curve, decade grid lines with their labels and a legend, encoded as PNG. Text is drawn with a
//! built-in 3x5 pixel font so the picture needs no font files.

/// One line of the plot: `(FAR, FRR)` points and the name in the legend.
#[derive(Debug, Clone, PartialEq)]
pub struct Curve {
    pub label: String,
    pub points: Vec<(f64, f64)>,
}

const WIDTH: usize = 800;
const HEIGHT: usize = 600;
const LEFT: usize = 80;
const RIGHT: usize = 30;
const TOP: usize = 30;
const BOTTOM: usize = 60;
const TEXT_SCALE: usize = 2;
const COLOURS: [[u8; 3]; 4] = [[31, 119, 180], [214, 39, 40], [44, 160, 44], [148, 103, 189]];

struct Canvas {
    rgb: Vec<u8>,
}

impl Canvas {
    fn set(&mut self, x: i64, y: i64, colour: [u8; 3]) {
        if (0..WIDTH as i64).contains(&x) && (0..HEIGHT as i64).contains(&y) {
            let at = (y as usize * WIDTH + x as usize) * 3;
            self.rgb[at..at + 3].copy_from_slice(&colour);
        }
    }

    /// A line from (x0, y0) to (x1, y1), `thickness` pixels wide.
    fn line(&mut self, (x0, y0): (f64, f64), (x1, y1): (f64, f64), colour: [u8; 3], thickness: i64) {
        let steps = (x1 - x0).abs().max((y1 - y0).abs()).ceil().max(1.0) as i64;
        for step in 0..=steps {
            let t = step as f64 / steps as f64;
            let (x, y) = ((x0 + (x1 - x0) * t).round() as i64, (y0 + (y1 - y0) * t).round() as i64);
            for dx in 0..thickness {
                for dy in 0..thickness {
                    self.set(x + dx - thickness / 2, y + dy - thickness / 2, colour);
                }
            }
        }
    }

    fn text(&mut self, x: usize, y: usize, text: &str, colour: [u8; 3]) {
        for (i, c) in text.chars().enumerate() {
            for (row, bits) in glyph(c).iter().enumerate() {
                for col in 0..3 {
                    if bits & (4 >> col) != 0 {
                        for dx in 0..TEXT_SCALE {
                            for dy in 0..TEXT_SCALE {
                                let px = x + i * 4 * TEXT_SCALE + col * TEXT_SCALE + dx;
                                self.set(px as i64, (y + row * TEXT_SCALE + dy) as i64, colour);
                            }
                        }
                    }
                }
            }
        }
    }
}

fn text_width(text: &str) -> usize {
    text.chars().count() * 4 * TEXT_SCALE
}

/// Draws the curves and returns the PNG file's bytes.
pub fn det_plot_png(title: &str, curves: &[Curve]) -> Vec<u8> {
    let mut canvas = Canvas { rgb: vec![255; WIDTH * HEIGHT * 3] };
    let positive = |v: f64| v > 0.0 && v.is_finite();
    let lowest = |pick: fn(&(f64, f64)) -> f64| {
        curves.iter().flat_map(|c| c.points.iter().map(pick)).filter(|v| positive(*v)).fold(1.0f64, f64::min)
    };
    let x_min = lowest(|p| p.0).log10().floor().min(-1.0);
    let y_min = lowest(|p| p.1).log10().floor().min(-1.0);
    let (plot_w, plot_h) = ((WIDTH - LEFT - RIGHT) as f64, (HEIGHT - TOP - BOTTOM) as f64);
    let to_x = |far: f64| LEFT as f64 + (far.max(10f64.powf(x_min)).log10() - x_min) / -x_min * plot_w;
    let to_y =
        |frr: f64| TOP as f64 + plot_h - (frr.max(10f64.powf(y_min)).log10() - y_min) / -y_min * plot_h;

    let grid = [225, 225, 225];
    let ink = [40, 40, 40];
    for decade in (x_min as i64)..=0 {
        let x = to_x(10f64.powi(decade as i32));
        canvas.line((x, TOP as f64), (x, TOP as f64 + plot_h), grid, 1);
        let label = format!("1E{decade}");
        canvas.text((x as usize).saturating_sub(text_width(&label) / 2), HEIGHT - BOTTOM + 8, &label, ink);
    }
    for decade in (y_min as i64)..=0 {
        let y = to_y(10f64.powi(decade as i32));
        canvas.line((LEFT as f64, y), (LEFT as f64 + plot_w, y), grid, 1);
        let label = format!("1E{decade}");
        canvas.text(LEFT - 8 - text_width(&label), (y as usize).saturating_sub(5), &label, ink);
    }
    let (left, right, top, bottom) = (LEFT as f64, LEFT as f64 + plot_w, TOP as f64, TOP as f64 + plot_h);
    for (a, b) in [
        ((left, top), (right, top)),
        ((right, top), (right, bottom)),
        ((right, bottom), (left, bottom)),
        ((left, bottom), (left, top)),
    ] {
        canvas.line(a, b, ink, 1);
    }
    canvas.text(
        LEFT + (plot_w as usize - text_width("FALSE ACCEPT RATE (FAR)")) / 2,
        HEIGHT - 26,
        "FALSE ACCEPT RATE (FAR)",
        ink,
    );
    canvas.text(8, TOP - 20, "FALSE REJECT RATE (FRR)", ink);
    canvas.text(WIDTH - RIGHT - text_width(title), TOP - 20, title, ink);

    for (i, curve) in curves.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        let points: Vec<(f64, f64)> = curve.points.iter().map(|&(far, frr)| (to_x(far), to_y(frr))).collect();
        for segment in points.windows(2) {
            canvas.line(segment[0], segment[1], colour, 3);
        }
        let legend_y = (TOP + 16 + i * 16) as f64;
        canvas.line((right - 200.0, legend_y), (right - 170.0, legend_y), colour, 3);
        canvas.text((right - 160.0) as usize, legend_y as usize - 5, &curve.label, ink);
    }
    encode(&canvas.rgb)
}

fn encode(rgb: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::new();
    let mut encoder = png::Encoder::new(&mut bytes, WIDTH as u32, HEIGHT as u32);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    // Writing into a Vec of a fixed-size image cannot fail; an error here is a bug in this file.
    let mut writer = encoder.write_header().expect("PNG header for a fixed-size RGB image");
    writer.write_image_data(rgb).expect("PNG data of exactly WIDTH x HEIGHT RGB pixels");
    writer.finish().expect("PNG end of a complete image");
    bytes
}

/// Rows of a 3x5 glyph, top first, the high bit on the left. Unknown characters draw as a box.
fn glyph(c: char) -> [u8; 5] {
    match c.to_ascii_uppercase() {
        '0' => [7, 5, 5, 5, 7],
        '1' => [2, 6, 2, 2, 7],
        '2' => [7, 1, 7, 4, 7],
        '3' => [7, 1, 7, 1, 7],
        '4' => [5, 5, 7, 1, 1],
        '5' => [7, 4, 7, 1, 7],
        '6' => [7, 4, 7, 5, 7],
        '7' => [7, 1, 1, 1, 1],
        '8' => [7, 5, 7, 5, 7],
        '9' => [7, 5, 7, 1, 7],
        'A' => [2, 5, 7, 5, 5],
        'B' => [6, 5, 6, 5, 6],
        'C' => [3, 4, 4, 4, 3],
        'D' => [6, 5, 5, 5, 6],
        'E' => [7, 4, 6, 4, 7],
        'F' => [7, 4, 6, 4, 4],
        'G' => [3, 4, 5, 5, 3],
        'H' => [5, 5, 7, 5, 5],
        'I' => [7, 2, 2, 2, 7],
        'J' => [1, 1, 1, 5, 2],
        'K' => [5, 5, 6, 5, 5],
        'L' => [4, 4, 4, 4, 7],
        'M' => [5, 7, 7, 5, 5],
        'N' => [6, 5, 5, 5, 5],
        'O' => [2, 5, 5, 5, 2],
        'P' => [6, 5, 6, 4, 4],
        'Q' => [2, 5, 5, 6, 3],
        'R' => [6, 5, 6, 5, 5],
        'S' => [3, 4, 2, 1, 6],
        'T' => [7, 2, 2, 2, 2],
        'U' => [5, 5, 5, 5, 7],
        'V' => [5, 5, 5, 5, 2],
        'W' => [5, 5, 7, 7, 5],
        'X' => [5, 5, 2, 5, 5],
        'Y' => [5, 5, 2, 2, 2],
        'Z' => [7, 1, 2, 4, 7],
        '-' => [0, 0, 7, 0, 0],
        '.' => [0, 0, 0, 0, 2],
        '_' => [0, 0, 0, 0, 7],
        ':' => [0, 2, 0, 2, 0],
        '%' => [5, 1, 2, 4, 5],
        '(' => [1, 2, 2, 2, 1],
        ')' => [4, 2, 2, 2, 4],
        '=' => [0, 7, 0, 7, 0],
        '+' => [0, 2, 7, 2, 0],
        '/' => [1, 1, 2, 4, 4],
        ' ' => [0; 5],
        _ => [7, 5, 5, 5, 7],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plot_is_a_png_of_the_stated_size_with_the_curve_drawn() {
        let curve = Curve {
            label: "mobilefacenet_128".into(),
            points: vec![(1e-5, 0.05), (1e-3, 0.01), (1e-1, 0.001)],
        };
        let bytes = det_plot_png("LFW", &[curve]);
        let decoder = png::Decoder::new(std::io::Cursor::new(&bytes));
        let mut reader = decoder.read_info().unwrap();
        let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut pixels).unwrap();
        assert_eq!((info.width, info.height), (WIDTH as u32, HEIGHT as u32));
        let blue = pixels.chunks_exact(3).filter(|p| p == &COLOURS[0]).count();
        assert!(blue > 500, "the curve and its legend are drawn ({blue} pixels)");
    }
}
