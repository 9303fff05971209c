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
pub(crate) fn nice_max(v: f64) -> f64 {
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

/// One line of a line chart.
pub struct Series {
    pub name: String,
    pub color: &'static str,
    /// (x, y) in the chart's units.
    pub points: Vec<(f64, f64)>,
}

/// Lines over x and y in [0, `x_max`] x [0, `y_max`], with axis names and an optional
/// diagonal (a random ranking, a perfect calibration).
pub fn lines(series: &[Series], x_name: &str, y_name: &str, x_max: f64, y_max: f64, diagonal: bool) -> String {
    let (w, h) = (380.0, 300.0);
    let (left, right, top, bottom) = (48.0, 16.0, 24.0, 44.0);
    let pw = w - left - right;
    let ph = h - top - bottom;
    let x = |v: f64| left + pw * (v / x_max).clamp(0.0, 1.0);
    let y = |v: f64| top + ph * (1.0 - (v / y_max).clamp(0.0, 1.0));
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" font-family=\"sans-serif\" font-size=\"10\">"
    );
    for k in 0..=4 {
        let f = k as f64 / 4.0;
        s.push_str(&format!(
            "<line x1=\"{left}\" x2=\"{:.1}\" y1=\"{:.1}\" y2=\"{:.1}\" stroke=\"#e3e6ec\"/><text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            left + pw,
            y(f * y_max),
            y(f * y_max),
            left - 4.0,
            y(f * y_max) + 3.0,
            axis(f * y_max)
        ));
        s.push_str(&format!(
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
            x(f * x_max),
            top + ph + 14.0,
            axis(f * x_max)
        ));
    }
    if diagonal {
        s.push_str(&format!(
            "<line x1=\"{:.1}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\" stroke=\"#9aa3b2\" stroke-dasharray=\"4 3\"/>",
            x(0.0),
            y(0.0),
            x(x_max.min(y_max)),
            y(x_max.min(y_max))
        ));
    }
    for (i, line) in series.iter().enumerate() {
        let pts: Vec<String> = line
            .points
            .iter()
            .map(|&(a, b)| format!("{:.1},{:.1}", x(a), y(b)))
            .collect();
        s.push_str(&format!(
            "<polyline points=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"2\"><title>{}</title></polyline>",
            pts.join(" "),
            line.color,
            esc(&line.name)
        ));
        if line.points.len() <= 30 {
            for &(a, b) in &line.points {
                s.push_str(&format!(
                    "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"2.5\" fill=\"{}\"><title>{}: {a:.4}, {b:.4}</title></circle>",
                    x(a),
                    y(b),
                    line.color,
                    esc(&line.name)
                ));
            }
        }
        s.push_str(&format!(
            "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"10\" height=\"3\" fill=\"{}\"/><text x=\"{:.1}\" y=\"{:.1}\">{}</text>",
            left + 8.0,
            top + 8.0 + 13.0 * i as f64,
            line.color,
            left + 22.0,
            top + 12.0 + 13.0 * i as f64,
            esc(&line.name)
        ));
    }
    s.push_str(&format!(
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"#5b6475\">{}</text><text transform=\"translate(11,{:.1}) rotate(-90)\" text-anchor=\"middle\" fill=\"#5b6475\">{}</text></svg>",
        left + pw / 2.0,
        h - 8.0,
        esc(x_name),
        top + ph / 2.0,
        esc(y_name)
    ));
    s
}

/// Grouped vertical bars: one group per label, one bar per series (values in [0, 1]
/// shares, shown as percentages).
pub fn grouped_bars(labels: &[String], series: &[(&str, &'static str, Vec<f64>)]) -> String {
    let (w, h) = (560.0, 260.0);
    let (left, right, top, bottom) = (48.0, 16.0, 24.0, 64.0);
    let pw = w - left - right;
    let ph = h - top - bottom;
    let n = labels.len().max(1) as f64;
    let max = nice_max(series.iter().flat_map(|s| s.2.iter().copied()).fold(0.0, f64::max));
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" font-family=\"sans-serif\" font-size=\"10\">"
    );
    for k in 0..=4 {
        let yv = top + ph * (1.0 - k as f64 / 4.0);
        s.push_str(&format!(
            "<line x1=\"{left}\" x2=\"{:.1}\" y1=\"{yv:.1}\" y2=\"{yv:.1}\" stroke=\"#e3e6ec\"/><text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            left + pw,
            left - 4.0,
            yv + 3.0,
            pct(max * k as f64 / 4.0)
        ));
    }
    let group = pw / n;
    let bw = (group * 0.8 / series.len().max(1) as f64).min(24.0);
    for (j, (name, color, values)) in series.iter().enumerate() {
        for (i, &v) in values.iter().enumerate() {
            let bh = ph * v / max;
            let x0 = left + group * i as f64 + group * 0.1 + bw * j as f64;
            s.push_str(&format!(
                "<rect x=\"{x0:.1}\" y=\"{:.1}\" width=\"{bw:.1}\" height=\"{bh:.1}\" fill=\"{color}\" opacity=\"0.8\"><title>{} {}: {}</title></rect>",
                top + ph - bh,
                esc(name),
                esc(&labels[i]),
                pct(v)
            ));
        }
        s.push_str(&format!(
            "<rect x=\"{:.1}\" y=\"8\" width=\"10\" height=\"8\" fill=\"{color}\"/><text x=\"{:.1}\" y=\"15\">{}</text>",
            left + 90.0 * j as f64,
            left + 14.0 + 90.0 * j as f64,
            esc(name)
        ));
    }
    let every = (labels.len() / 12).max(1);
    for (i, l) in labels.iter().enumerate().filter(|(i, _)| i % every == 0) {
        s.push_str(&format!(
            "<text transform=\"translate({:.1},{:.1}) rotate(-35)\" text-anchor=\"end\">{}</text>",
            left + group * (i as f64 + 0.5),
            top + ph + 12.0,
            esc(l)
        ));
    }
    s.push_str("</svg>");
    s
}

/// Horizontal bars, largest first as given (feature importance).
pub fn hbars(labels: &[String], values: &[f64], value_name: &str) -> String {
    let row = 16.0;
    let (left, right, top) = (170.0, 60.0, 20.0);
    let w = 560.0;
    let h = top + row * labels.len() as f64 + 8.0;
    let pw = w - left - right;
    let max = values.iter().copied().fold(0.0, f64::max).max(1e-300);
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" font-family=\"sans-serif\" font-size=\"10\"><text x=\"{left}\" y=\"12\" fill=\"#5b6475\">{}</text>",
        esc(value_name)
    );
    for (i, (l, &v)) in labels.iter().zip(values).enumerate() {
        let y0 = top + row * i as f64;
        let bw = pw * v / max;
        let short: String = if l.chars().count() > 28 {
            l.chars().take(27).collect::<String>() + "…"
        } else {
            l.clone()
        };
        s.push_str(&format!(
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text><rect x=\"{left}\" y=\"{:.1}\" width=\"{bw:.1}\" height=\"{:.1}\" fill=\"#4c72b0\" opacity=\"0.8\"><title>{}: {v}</title></rect><text x=\"{:.1}\" y=\"{:.1}\">{}</text>",
            left - 6.0,
            y0 + 11.0,
            esc(&short),
            y0 + 2.0,
            row - 4.0,
            esc(l),
            left + bw + 4.0,
            y0 + 11.0,
            axis(v)
        ));
    }
    s.push_str("</svg>");
    s
}

/// An axis or value label: 2 significant decimals below 10, whole numbers above.
fn axis(v: f64) -> String {
    if v.abs() >= 10.0 {
        format!("{v:.0}")
    } else if v.abs() >= 1.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// The SHAP summary (a beeswarm): one row per feature, one dot per scored row at its SHAP
/// value, stacked where dots crowd, coloured by the row's value of that feature from low
/// (blue) to high (red), grey where it is missing or not a number. `points[f]` holds
/// (SHAP value, the feature value's rank in [0, 1]) of feature `f`.
///
/// Dots of one colour are one path of zero-length round-capped strokes, so a chart of
/// tens of thousands of dots stays a small page.
pub fn beeswarm(features: &[String], points: &[Vec<(f64, Option<f64>)>], value_name: &str) -> String {
    const COLOURS: [&str; 9] = [
        "#2b6cd8", "#4f7fd9", "#7392d6", "#96a4cf", "#b8b4c4", "#cfa0a6", "#dc8583", "#e3665f", "#e6453c",
    ];
    const GREY: &str = "#a9afba";
    let row = 28.0;
    let (w, left, right, top, bottom) = (640.0, 170.0, 16.0, 34.0, 34.0);
    let h = top + row * features.len() as f64 + bottom;
    let pw = w - left - right;
    let (lo, hi) = points
        .iter()
        .flatten()
        .fold((0.0f64, 0.0f64), |(lo, hi), (v, _)| (lo.min(*v), hi.max(*v)));
    // A range with nice ends and about six nice steps around the values (0 always inside).
    let step = nice_max(((hi - lo) / 6.0).max(1e-12));
    let (x0, x1) = ((lo / step).floor() * step, (hi / step).ceil() * step);
    let x1 = if x1 > x0 { x1 } else { x0 + 1.0 };
    let x = |v: f64| left + pw * (v - x0) / (x1 - x0);
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" font-family=\"sans-serif\" font-size=\"10\" role=\"img\" aria-label=\"SHAP summary\"><text x=\"{left}\" y=\"12\" fill=\"#5b6475\">{}</text>",
        esc(value_name)
    );
    // The colour legend, top right: low [blue ... red] high.
    let lx = w - right - 28.0 - 9.0 * 12.0;
    s.push_str(&format!(
        "<text x=\"{:.1}\" y=\"26\" text-anchor=\"end\" fill=\"#5b6475\">feature value: low</text>",
        lx - 4.0
    ));
    for (i, c) in COLOURS.iter().enumerate() {
        s.push_str(&format!(
            "<rect x=\"{:.1}\" y=\"18\" width=\"12\" height=\"10\" fill=\"{c}\"/>",
            lx + 12.0 * i as f64
        ));
    }
    s.push_str(&format!(
        "<text x=\"{:.1}\" y=\"26\" fill=\"#5b6475\">high</text>",
        lx + 9.0 * 12.0 + 4.0
    ));
    // Grid, zero line, axis.
    let mut t = x0;
    while t <= x1 + step * 1e-9 {
        let xt = x(t);
        let zero = t.abs() < step * 1e-9;
        s.push_str(&format!(
            "<line x1=\"{xt:.1}\" x2=\"{xt:.1}\" y1=\"{top}\" y2=\"{:.1}\" stroke=\"{}\"/><text x=\"{xt:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
            h - bottom,
            if zero { "#8a93a3" } else { "#e3e6ec" },
            h - bottom + 12.0,
            if zero { "0".to_string() } else { axis(t) }
        ));
        t += step;
    }
    s.push_str(&format!(
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"#5b6475\">SHAP value (contribution to the log-odds of bad)</text>",
        left + pw / 2.0,
        h - 6.0
    ));
    let mut paths: Vec<String> = vec![String::new(); COLOURS.len() + 1];
    let half = row / 2.0 - 3.0;
    for (f, (name, pts)) in features.iter().zip(points).enumerate() {
        let mid = top + row * (f as f64 + 0.5);
        let short: String = if name.chars().count() > 28 {
            name.chars().take(27).collect::<String>() + "…"
        } else {
            name.clone()
        };
        s.push_str(&format!(
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}<title>{}</title></text>",
            left - 6.0,
            mid + 3.0,
            esc(&short),
            esc(name)
        ));
        // Stack dots that fall in the same 3-pixel column, alternately above and below.
        let mut crowd: std::collections::HashMap<i64, usize> = std::collections::HashMap::new();
        for (v, rank) in pts {
            let px = x(*v);
            let k = crowd.entry((px / 3.0).floor() as i64).or_insert(0);
            let level = (*k + 1) / 2;
            let sign = if *k % 2 == 1 { -1.0 } else { 1.0 };
            *k += 1;
            let dy = (level as f64 * 1.6) % half * sign;
            let bucket = rank.map_or(COLOURS.len(), |r| {
                ((r * COLOURS.len() as f64) as usize).min(COLOURS.len() - 1)
            });
            paths[bucket].push_str(&format!("M{px:.1} {:.1}h0", mid + dy));
        }
    }
    // Missing values first, so the coloured dots lie on top.
    paths.rotate_right(1);
    for (d, colour) in paths.iter().zip([&GREY].into_iter().chain(COLOURS.iter())) {
        if !d.is_empty() {
            s.push_str(&format!(
                "<path d=\"{d}\" stroke=\"{colour}\" stroke-width=\"3\" stroke-linecap=\"round\" opacity=\"0.85\" fill=\"none\"/>"
            ));
        }
    }
    s.push_str("</svg>");
    s
}
