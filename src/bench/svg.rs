//! The latency distribution as an SVG: one line per method, latency (log
//! scale) against percentile on the usual "nines" axis, where 90 %, 99 %,
//! 99.9 % … are equally spaced (x = log10(1 / (1 − q))).

use super::MethodResult;
use plotters::prelude::*;
use std::path::Path;

/// Colours distinguishable in print and by most colour-blind readers.
const PALETTE: [RGBColor; 6] = [
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(86, 180, 233),
    RGBColor(230, 159, 0),
];

/// The percentile label of nines-axis position `x`: 1 → `90%`, 2 → `99%`.
pub fn percentile_label(x: f64) -> String {
    let p = 100.0 * (1.0 - 10f64.powf(-x));
    let digits = if x <= 1.0 {
        0
    } else {
        (x.ceil() as usize).saturating_sub(2)
    };
    format!("{p:.digits$}%")
}

/// One method's curve: (nines position, latency µs) pairs.
fn curve(r: &MethodResult, max_x: f64) -> Vec<(f64, f64)> {
    let h = &r.histogram;
    let steps = 200;
    (0..=steps)
        .map(|i| {
            let x = max_x * i as f64 / steps as f64;
            let q = 1.0 - 10f64.powf(-x);
            (x, (h.value_at_quantile(q).max(1)) as f64 / 1000.0)
        })
        .collect()
}

/// Writes the plot of `results` (methods without requests are left out) to `path`.
pub fn write(path: &Path, title: &str, results: &[MethodResult]) -> Result<(), String> {
    let shown: Vec<&MethodResult> = results.iter().filter(|r| r.requests > 0).collect();
    // Go as far right as the data supports: with n requests the last nine
    // worth drawing is about log10(n).
    let most = shown.iter().map(|r| r.requests).max().unwrap_or(10);
    let max_x = ((most as f64).log10().floor()).clamp(1.0, 5.0);
    let curves: Vec<(&str, Vec<(f64, f64)>)> = shown
        .iter()
        .map(|r| (r.method.as_str(), curve(r, max_x)))
        .collect();
    let lo = curves
        .iter()
        .flat_map(|(_, c)| c.iter().map(|p| p.1))
        .fold(f64::INFINITY, f64::min);
    let hi = curves
        .iter()
        .flat_map(|(_, c)| c.iter().map(|p| p.1))
        .fold(0.0, f64::max);
    let (lo, hi) = if curves.is_empty() {
        (1.0, 10.0)
    } else {
        ((lo * 0.8).max(0.001), hi * 1.25)
    };
    let root = SVGBackend::new(path, (960, 600)).into_drawing_area();
    let err = |e: &dyn std::fmt::Display| format!("cannot draw {}: {e}", path.display());
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(16)
        .x_label_area_size(48)
        .y_label_area_size(72)
        .build_cartesian_2d(0.0..max_x, (lo..hi).log_scale())
        .map_err(|e| err(&e))?;
    chart
        .configure_mesh()
        .x_desc("percentile")
        .y_desc("latency (µs, log scale)")
        .x_labels(max_x as usize + 1)
        .x_label_formatter(&|x| percentile_label(*x))
        .y_label_formatter(&|y| format!("{y:.0}"))
        .draw()
        .map_err(|e| err(&e))?;
    for (i, (name, points)) in curves.into_iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)))
            .map_err(|e| err(&e))?
            .label(name)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(|e| err(&e))?;
    root.present().map_err(|e| err(&e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::percentile_label;

    #[test]
    fn nines_are_labelled_as_percentiles() {
        assert_eq!(percentile_label(0.0), "0%");
        assert_eq!(percentile_label(1.0), "90%");
        assert_eq!(percentile_label(2.0), "99%");
        assert_eq!(percentile_label(3.0), "99.9%");
        assert_eq!(percentile_label(4.0), "99.99%");
    }
}
