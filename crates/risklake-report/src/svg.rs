//! Small SVG charts.

use crate::html::esc;

/// Bars (left axis: share of rows) with a line over them (right axis: event rate), one
/// category per bin.
pub fn bars_and_line(labels: &[String], bars: &[f64], line: &[f64], bar_name: &str, line_name: &str) -> String {
    let (w, h) = (560.0, 260.0);
    let (left, right, top, bottom) = (48.0, 52.0, 18.0, 70.0);
    let pw = w - left - right;
    let ph = h - top - bottom;
    let n = labels.len().max(1) as f64;
    let bar_max = nice_max(bars.iter().copied().fold(0.0, f64::max));
    let line_max = nice_max(line.iter().copied().fold(0.0, f64::max));
    let x = |i: usize| left + pw * (i as f64 + 0.5) / n;
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" font-family=\"sans-serif\" font-size=\"10\">"
    );
    // Grid and axes.
    for k in 0..=4 {
        let y = top + ph * (1.0 - k as f64 / 4.0);
        s.push_str(&format!(
            "<line x1=\"{left}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#e3e6ec\"/>",
            left + pw
        ));
        s.push_str(&format!(
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" fill=\"#4c72b0\">{}</text>",
            left - 4.0,
            y + 3.0,
            pct(bar_max * k as f64 / 4.0)
        ));
        s.push_str(&format!(
            "<text x=\"{:.1}\" y=\"{:.1}\" fill=\"#dd5143\">{}</text>",
            left + pw + 4.0,
            y + 3.0,
            pct(line_max * k as f64 / 4.0)
        ));
    }
    let bw = (pw / n * 0.7).min(60.0);
    for (i, &b) in bars.iter().enumerate() {
        let bh = if bar_max > 0.0 { ph * b / bar_max } else { 0.0 };
        s.push_str(&format!(
            "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{bw:.1}\" height=\"{bh:.1}\" fill=\"#4c72b0\" opacity=\"0.75\"><title>{}: {}</title></rect>",
            x(i) - bw / 2.0,
            top + ph - bh,
            esc(&labels[i]),
            pct(b)
        ));
    }
    let pts: Vec<String> = line
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            let y = top + ph * (1.0 - if line_max > 0.0 { v / line_max } else { 0.0 });
            format!("{:.1},{:.1}", x(i), y)
        })
        .collect();
    s.push_str(&format!(
        "<polyline points=\"{}\" fill=\"none\" stroke=\"#dd5143\" stroke-width=\"2\"/>",
        pts.join(" ")
    ));
    for (i, p) in pts.iter().enumerate() {
        let (px, py) = p.split_once(',').unwrap();
        s.push_str(&format!(
            "<circle cx=\"{px}\" cy=\"{py}\" r=\"3\" fill=\"#dd5143\"><title>{}: {}</title></circle>",
            esc(&labels[i]),
            pct(line[i])
        ));
    }
    for (i, l) in labels.iter().enumerate() {
        let short: String = if l.chars().count() > 16 {
            l.chars().take(15).collect::<String>() + "…"
        } else {
            l.clone()
        };
        s.push_str(&format!(
            "<text transform=\"translate({:.1},{:.1}) rotate(-35)\" text-anchor=\"end\" fill=\"#1d2330\">{}</text>",
            x(i) + 3.0,
            top + ph + 12.0,
            esc(&short)
        ));
    }
    s.push_str(&format!(
        "<text x=\"{left}\" y=\"11\" fill=\"#4c72b0\">{}</text><text x=\"{:.1}\" y=\"11\" text-anchor=\"end\" fill=\"#dd5143\">{}</text>",
        esc(bar_name),
        left + pw,
        esc(line_name)
    ));
    s.push_str("</svg>");
    s
}

fn pct(v: f64) -> String {
    if v >= 0.1 {
        format!("{:.0}%", v * 100.0)
    } else {
        format!("{:.1}%", v * 100.0)
    }
}

/// A round number at or above `v` for an axis top.
fn nice_max(v: f64) -> f64 {
    if v <= 0.0 {
        return 1.0;
    }
    let mag = 10f64.powf(v.log10().floor());
    for m in [1.0, 2.0, 2.5, 5.0, 10.0] {
        if m * mag >= v {
            return m * mag;
        }
    }
    10.0 * mag
}
