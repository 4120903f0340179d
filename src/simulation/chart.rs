//! The coverage-over-time chart, as an SVG file (plotters).
//!
//! Operators compare policies by looking: one line per run, coverage in
//! percent against days of virtual time.

use std::path::Path;

use plotters::prelude::*;

use super::report::Report;

/// Why the chart could not be written.
#[derive(Debug, thiserror::Error)]
#[error("writing the chart {path}: {reason}")]
pub struct ChartError {
    pub path: String,
    pub reason: String,
}

/// Draw each report's coverage series, labelled, into an SVG at `path`.
pub fn write_svg(path: &Path, runs: &[(&str, &Report)]) -> Result<(), ChartError> {
    let fail = |e: &dyn std::fmt::Display| ChartError {
        path: path.display().to_string(),
        reason: e.to_string(),
    };
    let Some((_, first)) = runs.first() else {
        return Ok(());
    };
    let days = first.days.max(1e-6);
    let low = runs
        .iter()
        .flat_map(|(_, r)| r.coverage_series.iter().map(|p| p.1))
        .fold(1.0f64, f64::min);
    // Zoom on the interesting band, but never hide the floor.
    let y_min = ((low * 100.0 - 2.0).floor()).clamp(0.0, 99.0);
    let root = SVGBackend::new(path, (960, 480)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| fail(&e))?;
    let title = format!(
        "{}: share of devices with a backup fresher than {} h (seed {})",
        first.scenario,
        first.fresh_within_secs / 3600,
        first.seed
    );
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(52)
        .build_cartesian_2d(0f64..days, y_min..100.5f64)
        .map_err(|e| fail(&e))?;
    chart
        .configure_mesh()
        .x_desc("days")
        .y_desc("coverage %")
        .draw()
        .map_err(|e| fail(&e))?;
    let colors = [BLUE, RED, GREEN, MAGENTA];
    for (i, (label, report)) in runs.iter().enumerate() {
        let color = colors[i % colors.len()];
        chart
            .draw_series(LineSeries::new(
                report.coverage_series.iter().map(|(d, c)| (*d, c * 100.0)),
                color.stroke_width(2),
            ))
            .map_err(|e| fail(&e))?
            .label(label.to_string())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .position(SeriesLabelPosition::LowerRight)
        .draw()
        .map_err(|e| fail(&e))?;
    root.present().map_err(|e| fail(&e))?;
    Ok(())
}
