//! Line charts as SVG text, drawn on the server: no script, nothing
//! fetched. Labels are escaped; the figures are also in a table beside.

use std::fmt::Write as _;

/// Colours of the series, distinguishable in print too (also dashed).
const COLOURS: [&str; 3] = ["#0b5cad", "#8a5a00", "#b3261e"];

/// One line: its legend and values, one per date.
#[derive(Debug, Clone)]
pub(super) struct Series {
    label: &'static str,
    values: Vec<u64>,
    colour: usize,
}

impl Series {
    pub(super) fn new(label: &'static str, values: Vec<u64>, colour: usize) -> Series {
        Series {
            label,
            values,
            colour,
        }
    }
}

/// A round upper bound for the y axis whose quarters are whole and round
/// (4 × 1, 2, 5 × 10^k): 4, 8, 20, 40, 80, 200, …
fn nice_max(max: u64) -> u64 {
    let mut step: u64 = 1;
    loop {
        for m in [1, 2, 5] {
            if 4 * m * step >= max {
                return 4 * m * step;
            }
        }
        step = step.saturating_mul(10);
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// An SVG line chart of `series` over `dates` (labels).
pub(super) fn line_chart(dates: &[String], series: &[Series]) -> String {
    let (w, h) = (900.0_f64, 280.0_f64);
    let (left, right, top, bottom) = (50.0, 20.0, 30.0, 40.0);
    let max = nice_max(
        series
            .iter()
            .flat_map(|s| s.values.iter().copied())
            .max()
            .unwrap_or(0),
    );
    let n = dates.len().max(2);
    let x = |i: usize| left + (w - left - right) * i as f64 / (n - 1) as f64;
    let y = |v: u64| top + (h - top - bottom) * (1.0 - v as f64 / max as f64);
    let mut svg = format!(
        "<svg class=\"chart\" viewBox=\"0 0 {w} {h}\" role=\"img\" xmlns=\"http://www.w3.org/2000/svg\">"
    );
    for k in 0..=4 {
        let v = max * k / 4;
        let _ = write!(
            svg,
            "<line x1=\"{left}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#ddd\"/>\
             <text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{v}</text>",
            w - right,
            left - 6.0,
            y(v) + 4.0,
            y = y(v)
        );
    }
    let every = dates.len().div_ceil(10).max(1);
    for (i, d) in dates.iter().enumerate() {
        if i % every == 0 || i + 1 == dates.len() {
            let _ = write!(
                svg,
                "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
                x(i),
                h - bottom + 18.0,
                escape(d)
            );
        }
    }
    for (k, s) in series.iter().enumerate() {
        let colour = COLOURS[s.colour % COLOURS.len()];
        let dash = if k == 1 {
            " stroke-dasharray=\"8 4\""
        } else {
            ""
        };
        let points: Vec<String> = s
            .values
            .iter()
            .enumerate()
            .map(|(i, &v)| format!("{:.1},{:.1}", x(i), y(v)))
            .collect();
        let _ = write!(
            svg,
            "<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"2.5\"{dash} points=\"{}\"/>",
            points.join(" ")
        );
        for (i, &v) in s.values.iter().enumerate() {
            let _ = write!(
                svg,
                "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"{colour}\"><title>{} {}: {v}</title></circle>",
                x(i),
                y(v),
                escape(dates.get(i).map_or("", String::as_str)),
                escape(s.label)
            );
        }
        let lx = left + 10.0 + 160.0 * k as f64;
        let _ = write!(
            svg,
            "<line x1=\"{lx}\" x2=\"{}\" y1=\"14\" y2=\"14\" stroke=\"{colour}\" stroke-width=\"3\"{dash}/>\
             <text x=\"{}\" y=\"18\" style=\"fill:#1b1b1b\">{}</text>",
            lx + 28.0,
            lx + 34.0,
            escape(s.label)
        );
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axis_bounds_are_round() {
        assert_eq!(nice_max(0), 4);
        assert_eq!(nice_max(7), 8);
        assert_eq!(nice_max(11), 20);
        assert_eq!(nice_max(180), 200);
        assert_eq!(nice_max(501), 800);
    }

    #[test]
    fn a_chart_has_one_line_per_series_and_escapes() {
        let dates = vec!["02-09".to_owned(), "02-10".to_owned()];
        let svg = line_chart(
            &dates,
            &[
                Series::new("居家<隔离>", vec![1, 3], 0),
                Series::new("集中", vec![0, 2], 1),
            ],
        );
        assert_eq!(svg.matches("<polyline").count(), 2);
        assert!(svg.contains("居家&lt;隔离&gt;"));
        assert!(!svg.contains("<script"));
    }
}
