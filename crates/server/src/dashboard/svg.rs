//! Charts as inline SVG, drawn by the server: they need no script, scale with the page
//! (`viewBox`), and print. Each chart carries a `<title>` per mark for hover and screen
//! readers.

use super::html::esc;
use std::fmt::Write;

/// Severities from the least to the most urgent, with their colours.
pub const SEVERITIES: &[(&str, &str)] = &[
    ("info", "#8a94a6"),
    ("low", "#3b82f6"),
    ("medium", "#eab308"),
    ("high", "#f97316"),
    ("critical", "#dc2626"),
];

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 180.0;
/// Room for the axis labels.
const LEFT: f64 = 40.0;
const BOTTOM: f64 = 20.0;

/// One bar of a stacked chart: its label and its count per severity.
pub struct Stack {
    pub label: String,
    pub counts: Vec<(String, i64)>,
}

/// Bars over time, each stacked by severity.
pub fn stacked_bars(bars: &[Stack], what: &str) -> String {
    let max = bars
        .iter()
        .map(|b| b.counts.iter().map(|(_, n)| n).sum::<i64>())
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let mut out = open(what);
    axis(&mut out, max, "");
    let plot_w = WIDTH - LEFT;
    let slot = plot_w / bars.len().max(1) as f64;
    for (i, bar) in bars.iter().enumerate() {
        let x = LEFT + i as f64 * slot + slot * 0.1;
        let mut y = HEIGHT - BOTTOM;
        for (severity, colour) in SEVERITIES {
            let n = bar
                .counts
                .iter()
                .find(|(s, _)| s == severity)
                .map_or(0, |(_, n)| *n);
            if n == 0 {
                continue;
            }
            let h = n as f64 / max * (HEIGHT - BOTTOM - 10.0);
            y -= h;
            let _ = write!(
                out,
                "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"{h:.1}\" fill=\"{colour}\"><title>{label}: {n} {severity}</title></rect>",
                w = slot * 0.8,
                label = esc(&bar.label)
            );
        }
    }
    if let (Some(first), Some(last)) = (bars.first(), bars.last()) {
        let _ = write!(
            out,
            "<text x=\"{LEFT}\" y=\"{y}\" class=\"axis\">{}</text><text x=\"{WIDTH}\" y=\"{y}\" class=\"axis\" text-anchor=\"end\">{}</text>",
            esc(&first.label),
            esc(&last.label),
            y = HEIGHT - 4.0
        );
    }
    out.push_str("</svg>");
    out
}

/// One point of a line: its label (a time) and its average, least and greatest value.
pub struct Point {
    pub label: String,
    pub avg: f64,
    pub min: f64,
    pub max: f64,
}

/// A line of averages over a band from the least to the greatest value; `ceiling` fixes
/// the top of the scale (100 for percentages), else the greatest value sets it.
pub fn line(points: &[Point], what: &str, ceiling: Option<f64>) -> String {
    let top = ceiling
        .unwrap_or_else(|| points.iter().map(|p| p.max).fold(0.0, f64::max))
        .max(1.0);
    let mut out = open(what);
    axis(&mut out, top, "");
    if points.is_empty() {
        let _ = write!(
            out,
            "<text x=\"{}\" y=\"{}\" class=\"axis\" text-anchor=\"middle\">no samples in this range</text></svg>",
            WIDTH / 2.0,
            HEIGHT / 2.0
        );
        return out;
    }
    let step = (WIDTH - LEFT) / (points.len().max(2) - 1) as f64;
    let x = |i: usize| LEFT + i as f64 * step;
    let y = |v: f64| HEIGHT - BOTTOM - (v.clamp(0.0, top) / top) * (HEIGHT - BOTTOM - 10.0);
    let mut band = String::new();
    for (i, p) in points.iter().enumerate() {
        let _ = write!(band, "{:.1},{:.1} ", x(i), y(p.max));
    }
    for (i, p) in points.iter().enumerate().rev() {
        let _ = write!(band, "{:.1},{:.1} ", x(i), y(p.min));
    }
    let _ = write!(out, "<polygon points=\"{band}\" class=\"band\"/>");
    let mut path = String::new();
    for (i, p) in points.iter().enumerate() {
        let _ = write!(
            path,
            "{}{:.1},{:.1} ",
            if i == 0 { "M" } else { "L" },
            x(i),
            y(p.avg)
        );
    }
    let _ = write!(out, "<path d=\"{path}\" class=\"line\"/>");
    for (i, p) in points.iter().enumerate() {
        let _ = write!(
            out,
            "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"2\" class=\"dot\"><title>{}: {:.1} (min {:.1}, max {:.1})</title></circle>",
            x(i),
            y(p.avg),
            esc(&p.label),
            p.avg,
            p.min,
            p.max
        );
    }
    let _ = write!(
        out,
        "<text x=\"{LEFT}\" y=\"{y}\" class=\"axis\">{}</text><text x=\"{WIDTH}\" y=\"{y}\" class=\"axis\" text-anchor=\"end\">{}</text></svg>",
        esc(&points[0].label),
        esc(&points[points.len() - 1].label),
        y = HEIGHT - 4.0
    );
    out
}

/// A grid of counts: rows × columns, darker for more.
pub fn heat_map(
    rows: &[String],
    columns: &[String],
    count: impl Fn(usize, usize) -> i64,
) -> String {
    if rows.is_empty() || columns.is_empty() {
        return "<p class=\"empty\">No detections with ATT&amp;CK tags in this window.</p>".into();
    }
    const CELL: f64 = 34.0;
    const LABEL_W: f64 = 150.0;
    const LABEL_H: f64 = 70.0;
    let width = LABEL_W + columns.len() as f64 * CELL;
    let height = LABEL_H + rows.len() as f64 * CELL;
    let max = (0..rows.len())
        .flat_map(|r| (0..columns.len()).map(move |c| (r, c)))
        .map(|(r, c)| count(r, c))
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let mut out = format!(
        "<svg class=\"chart heat\" viewBox=\"0 0 {width} {height}\" style=\"max-width:{width}px\" role=\"img\" aria-label=\"ATT&amp;CK tactics by technique\">"
    );
    for (c, column) in columns.iter().enumerate() {
        let x = LABEL_W + c as f64 * CELL + CELL / 2.0;
        let _ = write!(
            out,
            "<text x=\"{x}\" y=\"{y}\" class=\"axis\" transform=\"rotate(-45 {x} {y})\">{}</text>",
            esc(column),
            y = LABEL_H - 6.0
        );
    }
    for (r, row) in rows.iter().enumerate() {
        let y = LABEL_H + r as f64 * CELL;
        let _ = write!(
            out,
            "<text x=\"{}\" y=\"{}\" class=\"axis\" text-anchor=\"end\">{}</text>",
            LABEL_W - 6.0,
            y + CELL / 2.0 + 4.0,
            esc(row)
        );
        for (c, column) in columns.iter().enumerate() {
            let n = count(r, c);
            let opacity = if n == 0 {
                0.05
            } else {
                0.2 + 0.8 * n as f64 / max
            };
            let _ = write!(
                out,
                "<rect x=\"{}\" y=\"{y}\" width=\"{w}\" height=\"{w}\" fill=\"#dc2626\" fill-opacity=\"{opacity:.2}\"><title>{} × {}: {n}</title></rect>",
                LABEL_W + c as f64 * CELL,
                esc(row),
                esc(column),
                w = CELL - 2.0
            );
            if n > 0 {
                let _ = write!(
                    out,
                    "<text x=\"{}\" y=\"{}\" class=\"cell\" text-anchor=\"middle\">{n}</text>",
                    LABEL_W + c as f64 * CELL + (CELL - 2.0) / 2.0,
                    y + CELL / 2.0 + 4.0
                );
            }
        }
    }
    out.push_str("</svg>");
    out
}

fn open(what: &str) -> String {
    format!(
        "<svg class=\"chart\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" role=\"img\" aria-label=\"{}\">",
        esc(what)
    )
}

/// The horizontal grid: zero, half and the top of the scale.
fn axis(out: &mut String, top: f64, unit: &str) {
    for fraction in [0.0, 0.5, 1.0] {
        let y = HEIGHT - BOTTOM - fraction * (HEIGHT - BOTTOM - 10.0);
        let value = top * fraction;
        let text = if value >= 10.0 || value == 0.0 {
            format!("{value:.0}{unit}")
        } else {
            format!("{value:.1}{unit}")
        };
        let _ = write!(
            out,
            "<line x1=\"{LEFT}\" x2=\"{WIDTH}\" y1=\"{y:.1}\" y2=\"{y:.1}\" class=\"grid\"/><text x=\"{}\" y=\"{:.1}\" class=\"axis\" text-anchor=\"end\">{text}</text>",
            LEFT - 4.0,
            y + 4.0
        );
    }
}

/// One step of an attack chain as drawn: its tactic lane (a kill-chain tactic id, or
/// `None`), severity, and the words shown on hover.
pub struct ChainMark {
    pub tactic: Option<String>,
    pub severity: String,
    pub label: String,
}

/// An incident's attack chain: one lane per ATT&CK tactic it reached, in kill-chain order
/// from top to bottom, its steps left to right in time order, joined in order, each
/// numbered as in the table beside it.
pub fn attack_chain(steps: &[ChainMark]) -> String {
    use watchpost_core::attack::TACTICS;
    const LANE: f64 = 30.0;
    const LABELS: f64 = 170.0;
    const CHAIN_WIDTH: f64 = 900.0;
    if steps.is_empty() {
        return String::new();
    }
    let mut lanes: Vec<(usize, &str)> = steps
        .iter()
        .map(|s| {
            s.tactic
                .as_deref()
                .and_then(|t| TACTICS.iter().position(|x| x.id == t))
                .map_or((usize::MAX, "Other"), |i| (i, TACTICS[i].title))
        })
        .collect();
    lanes.sort();
    lanes.dedup();
    let lane_of = |s: &ChainMark| {
        let key = s
            .tactic
            .as_deref()
            .and_then(|t| TACTICS.iter().position(|x| x.id == t))
            .unwrap_or(usize::MAX);
        lanes.iter().position(|(i, _)| *i == key).unwrap_or(0)
    };
    let height = LANE * lanes.len() as f64 + 10.0;
    let span = (CHAIN_WIDTH - LABELS - 30.0) / (steps.len().max(2) - 1) as f64;
    let x = |i: usize| {
        if steps.len() == 1 {
            LABELS + 15.0
        } else {
            LABELS + 15.0 + span * i as f64
        }
    };
    let y = |lane: usize| 5.0 + LANE * lane as f64 + LANE / 2.0;
    let mut out = format!(
        "<svg class=\"chart chain\" viewBox=\"0 0 {CHAIN_WIDTH} {height}\" role=\"img\" aria-label=\"Attack chain along ATT&amp;CK tactics\">"
    );
    for (i, (_, name)) in lanes.iter().enumerate() {
        let _ = write!(
            out,
            "<line x1=\"{LABELS}\" x2=\"{CHAIN_WIDTH}\" y1=\"{0}\" y2=\"{0}\" stroke=\"#e5e7eb\"/>\
             <text x=\"{1}\" y=\"{2}\" text-anchor=\"end\" font-size=\"12\" data-lane>{3}</text>",
            y(i),
            LABELS - 8.0,
            y(i) + 4.0,
            esc(name)
        );
    }
    let path: Vec<String> = steps
        .iter()
        .enumerate()
        .map(|(i, s)| format!("{:.1},{:.1}", x(i), y(lane_of(s))))
        .collect();
    let _ = write!(
        out,
        "<polyline points=\"{}\" fill=\"none\" stroke=\"#94a3b8\" stroke-width=\"1.5\"/>",
        path.join(" ")
    );
    for (i, s) in steps.iter().enumerate() {
        let colour = SEVERITIES
            .iter()
            .find(|(name, _)| *name == s.severity)
            .map_or("#8a94a6", |(_, c)| c);
        let _ = write!(
            out,
            "<g data-step=\"{n}\"><circle cx=\"{cx:.1}\" cy=\"{cy:.1}\" r=\"8\" fill=\"{colour}\"><title>{label}</title></circle>\
             <text x=\"{cx:.1}\" y=\"{ty:.1}\" text-anchor=\"middle\" font-size=\"10\" fill=\"#fff\">{n}</text></g>",
            n = i + 1,
            cx = x(i),
            cy = y(lane_of(s)),
            ty = y(lane_of(s)) + 3.5,
            label = esc(&s.label),
        );
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_stack_by_severity_with_the_tallest_filling_the_plot() {
        let svg = stacked_bars(
            &[
                Stack {
                    label: "08:00".into(),
                    counts: vec![("high".into(), 3), ("low".into(), 1)],
                },
                Stack {
                    label: "09:00".into(),
                    counts: vec![("critical".into(), 2)],
                },
            ],
            "detections",
        );
        assert_eq!(svg.matches("<rect").count(), 3);
        assert!(svg.contains("<title>08:00: 3 high</title>"));
        // The 08:00 bar (4) reaches the top of the plot area: y = 10.
        assert!(svg.contains("y=\"10.0\""), "{svg}");
    }

    #[test]
    fn a_line_without_samples_says_so() {
        assert!(line(&[], "cpu", Some(100.0)).contains("no samples"));
        let svg = line(
            &[
                Point {
                    label: "a".into(),
                    avg: 50.0,
                    min: 40.0,
                    max: 60.0,
                },
                Point {
                    label: "b".into(),
                    avg: 100.0,
                    min: 90.0,
                    max: 100.0,
                },
            ],
            "cpu",
            Some(100.0),
        );
        assert!(svg.contains("<path d=\"M40.0,85.0 L640.0,10.0 \""), "{svg}");
    }

    #[test]
    fn the_heat_map_labels_cells_and_escapes_names() {
        let svg = heat_map(
            &["ex<ec".into()],
            &["T1059".into(), "T1105".into()],
            |_, c| {
                if c == 0 { 4 } else { 0 }
            },
        );
        assert!(svg.contains("ex&lt;ec × T1059: 4"));
        assert!(svg.contains(">4</text>"));
    }
}
