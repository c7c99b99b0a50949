//! A profile as an SVG flame graph: one box per frame, the root at the bottom, as wide as
//! the share of samples whose stack passes through it; stacks that share a start share
//! their boxes. Hovering a box shows its function, samples and share.

use std::{collections::BTreeMap, fmt::Write as _};

/// Width of the graph, in pixels.
const WIDTH: f64 = 1200.0;
/// Height of a frame's box.
const ROW: f64 = 16.0;
/// Boxes narrower than this are left out.
const MIN_WIDTH: f64 = 0.1;
/// Roughly the width of a character of the labels.
const CHAR_WIDTH: f64 = 7.0;

/// Frames that share a start, merged.
#[derive(Default)]
struct Node {
    samples: u64,
    children: BTreeMap<String, Node>,
}

impl Node {
    fn add(&mut self, stack: &[String], samples: u64) {
        self.samples += samples;
        if let Some((first, rest)) = stack.split_first() {
            self.children
                .entry(first.clone())
                .or_default()
                .add(rest, samples);
        }
    }

    fn depth(&self) -> usize {
        self.children
            .values()
            .map(|c| c.depth() + 1)
            .max()
            .unwrap_or(0)
    }
}

/// The SVG of `stacks`: each a list of function names, the outermost first, with its
/// sample count.
pub fn svg(stacks: impl IntoIterator<Item = (Vec<String>, u64)>) -> String {
    let mut root = Node::default();
    for (stack, samples) in stacks {
        root.add(&stack, samples);
    }
    if root.samples == 0 {
        return IDLE.to_owned();
    }
    let depth = root.depth();
    let height = (depth as f64 + 1.0) * ROW + 40.0;
    let mut out = format!(
        r#"<?xml version="1.0" standalone="no"?>
<svg version="1.1" width="{WIDTH}" height="{height}" xmlns="http://www.w3.org/2000/svg" font-family="Verdana" font-size="12">
<text x="{}" y="24" text-anchor="middle" font-size="16">CPU flame graph ({} samples)</text>
"#,
        WIDTH / 2.0,
        root.samples
    );
    let scale = WIDTH / root.samples as f64;
    let mut place = Place {
        out: &mut out,
        scale,
        total: root.samples,
        bottom: height - ROW,
    };
    let mut x = 0.0;
    for (name, child) in &root.children {
        place.boxes(name, child, x, 0);
        x += child.samples as f64 * scale;
    }
    out.push_str("</svg>\n");
    out
}

/// Where boxes go.
struct Place<'a> {
    out: &'a mut String,
    scale: f64,
    total: u64,
    /// The y of the bottom row.
    bottom: f64,
}

impl Place<'_> {
    fn boxes(&mut self, name: &str, node: &Node, x: f64, level: usize) {
        let width = node.samples as f64 * self.scale;
        if width < MIN_WIDTH {
            return;
        }
        let y = self.bottom - level as f64 * ROW;
        let share = node.samples as f64 * 100.0 / self.total as f64;
        let label = fitted(name, width);
        let _ = writeln!(
            self.out,
            r#"<g><title>{} ({} samples, {share:.2}%)</title><rect x="{x:.2}" y="{y:.2}" width="{width:.2}" height="{h}" fill="{}" rx="2"/><text x="{:.2}" y="{:.2}">{}</text></g>"#,
            escape(name),
            node.samples,
            colour(name),
            x + 3.0,
            y + ROW - 4.0,
            escape(&label),
            h = ROW - 1.0,
        );
        let mut child_x = x;
        for (child_name, child) in &node.children {
            self.boxes(child_name, child, child_x, level + 1);
            child_x += child.samples as f64 * self.scale;
        }
    }
}

/// As much of `name` as fits in `width` pixels, with `..` when cut.
fn fitted(name: &str, width: f64) -> String {
    let fits = ((width - 6.0) / CHAR_WIDTH).max(0.0) as usize;
    if name.chars().count() <= fits {
        name.to_owned()
    } else if fits < 3 {
        String::new()
    } else {
        name.chars().take(fits - 2).chain("..".chars()).collect()
    }
}

/// A warm colour, the same for the same function.
fn colour(name: &str) -> String {
    let hash = name.bytes().fold(2_166_136_261u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(16_777_619)
    });
    let red = 200 + hash % 55;
    let green = 80 + (hash >> 8) % 120;
    let blue = (hash >> 16) % 60;
    format!("rgb({red},{green},{blue})")
}

/// Text as XML character data or an attribute value.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// The flame graph of a profile without samples.
const IDLE: &str = r#"<?xml version="1.0" standalone="no"?>
<svg version="1.1" width="600" height="40" xmlns="http://www.w3.org/2000/svg"><text x="10" y="25" font-family="Verdana" font-size="14">No samples: the process used no CPU while it was profiled.</text></svg>
"#;

#[cfg(test)]
mod tests {
    use super::*;

    fn stack(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| (*n).to_owned()).collect()
    }

    #[test]
    fn shared_starts_share_boxes_and_names_are_escaped() {
        let svg = svg([
            (stack(&["main", "serve", "<Conn as Read>::read"]), 3),
            (stack(&["main", "serve", "encode&send"]), 1),
            (stack(&["main", "idle"]), 4),
        ]);
        assert!(svg.starts_with("<?xml") && svg.trim_end().ends_with("</svg>"));
        // `main` once, with every sample.
        assert_eq!(svg.matches("<title>main (8 samples, 100.00%)").count(), 1);
        assert!(svg.contains("<title>serve (4 samples, 50.00%)"));
        assert!(svg.contains("&lt;Conn as Read&gt;::read (3 samples, 37.50%)"));
        assert!(svg.contains("encode&amp;send"));
        assert!(!svg.contains("<Conn"));
        assert_eq!(svg.matches("<rect").count(), 5);
    }

    #[test]
    fn no_samples_is_said_in_words() {
        assert!(svg(Vec::new()).contains("No samples"));
    }

    #[test]
    fn labels_fit_their_boxes() {
        assert_eq!(fitted("short", 100.0), "short");
        assert_eq!(fitted("a_rather_long_function_name", 60.0), "a_rat..");
        assert_eq!(fitted("anything", 10.0), "");
    }
}
