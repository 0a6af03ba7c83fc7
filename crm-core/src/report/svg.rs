//! Simple, clean SVG charts for hosts without a charting stack: a funnel, grouped bars
//! and lines, with a title, a value axis with round ticks, category labels and a
//! legend. Deterministic text (the same chart gives the same bytes), every label
//! escaped. Coordinates are floats — they only place shapes; the values printed are
//! the exact decimals.

use std::fmt::Write;

use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;

use super::chart::{Chart, ChartKind};

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 400.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 60.0;
const BOTTOM: f64 = 70.0;
/// Colour-blind-safe (Okabe–Ito) colours, one per series.
const COLOURS: [&str; 7] = [
    "#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442",
];
/// Category labels longer than this are cut with an ellipsis.
const LABEL_CHARS: usize = 16;

/// The chart as a standalone SVG document.
pub(crate) fn render(chart: &Chart) -> String {
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12" role="img">"#
    );
    let _ = write!(svg, "<title>{}</title>", escape(&chart.title));
    let _ = write!(
        svg,
        r##"<rect width="{WIDTH}" height="{HEIGHT}" fill="#ffffff"/><text class="title" x="{LEFT}" y="28" font-size="16" font-weight="bold">{}</text>"##,
        escape(&chart.title)
    );
    if chart.labels.is_empty() || chart.series.is_empty() {
        let _ = write!(
            svg,
            r##"<text class="empty" x="{}" y="{}" text-anchor="middle" fill="#666666">No data</text>"##,
            WIDTH / 2.0,
            HEIGHT / 2.0
        );
    } else {
        match chart.kind {
            ChartKind::Funnel => funnel(&mut svg, chart),
            ChartKind::Bars | ChartKind::Lines => {
                let top = nice_top(chart);
                axes(&mut svg, chart, top);
                if chart.kind == ChartKind::Bars {
                    bars(&mut svg, chart, top);
                } else {
                    lines(&mut svg, chart, top);
                }
                legend(&mut svg, chart);
            }
        }
    }
    svg.push_str("</svg>");
    svg
}

fn plot_width() -> f64 {
    WIDTH - LEFT - RIGHT
}

fn plot_height() -> f64 {
    HEIGHT - TOP - BOTTOM
}

fn number(value: Decimal) -> f64 {
    value.to_f64().unwrap_or(0.0)
}

/// The y position of `value` on an axis from 0 to `top`.
fn y(value: Decimal, top: f64) -> f64 {
    let share = if top > 0.0 { number(value) / top } else { 0.0 };
    TOP + plot_height() * (1.0 - share.clamp(0.0, 1.0))
}

/// The axis maximum: the largest value rounded up to 1, 2 or 5 × a power of ten.
fn nice_top(chart: &Chart) -> f64 {
    let largest = chart
        .series
        .iter()
        .flat_map(|series| series.values.iter())
        .map(|value| number(*value))
        .fold(0.0_f64, f64::max);
    if largest <= 0.0 {
        return 1.0;
    }
    let magnitude = 10f64.powf(largest.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|step| step * magnitude)
        .find(|top| *top >= largest)
        .unwrap_or(10.0 * magnitude)
}

fn axes(svg: &mut String, chart: &Chart, top: f64) {
    let bottom = TOP + plot_height();
    for tick in 0..=4 {
        let value = top * f64::from(tick) / 4.0;
        let at = TOP + plot_height() * (1.0 - f64::from(tick) / 4.0);
        let _ = write!(
            svg,
            r##"<line x1="{LEFT}" y1="{at:.1}" x2="{:.1}" y2="{at:.1}" stroke="#e0e0e0"/><text class="tick" x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
            WIDTH - RIGHT,
            LEFT - 6.0,
            at + 4.0,
            tick_label(value)
        );
    }
    let _ = write!(
        svg,
        r##"<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{bottom:.1}" stroke="#333333"/><line x1="{LEFT}" y1="{bottom:.1}" x2="{:.1}" y2="{bottom:.1}" stroke="#333333"/>"##,
        WIDTH - RIGHT
    );
    let _ = write!(
        svg,
        r#"<text class="unit" x="16" y="{:.1}" transform="rotate(-90 16 {:.1})" text-anchor="middle">{}</text>"#,
        TOP + plot_height() / 2.0,
        TOP + plot_height() / 2.0,
        escape(&chart.unit)
    );
    let slot = plot_width() / chart.labels.len() as f64;
    // Labels wider than their slot are slanted so neighbours do not overlap.
    let widest = chart
        .labels
        .iter()
        .map(|l| shorten(l).chars().count())
        .max()
        .unwrap_or(0);
    let slanted = widest as f64 * 7.0 > slot;
    for (index, label) in chart.labels.iter().enumerate() {
        let x = LEFT + slot * (index as f64 + 0.5);
        let y = bottom + 18.0;
        let placement = if slanted {
            format!(r#"text-anchor="end" transform="rotate(-30 {x:.1} {y:.1})""#)
        } else {
            r#"text-anchor="middle""#.to_string()
        };
        let _ = write!(
            svg,
            r#"<text class="label" x="{x:.1}" y="{y:.1}" {placement}>{}</text>"#,
            escape(&shorten(label))
        );
    }
}

fn tick_label(value: f64) -> String {
    if value >= 1_000_000.0 {
        format!("{:.1}M", value / 1_000_000.0)
    } else if value >= 10_000.0 {
        format!("{:.0}k", value / 1_000.0)
    } else if value.fract() == 0.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.2}")
    }
}

fn bars(svg: &mut String, chart: &Chart, top: f64) {
    let slot = plot_width() / chart.labels.len() as f64;
    let width = slot * 0.8 / chart.series.len() as f64;
    for (s, series) in chart.series.iter().enumerate() {
        for (index, value) in series.values.iter().enumerate() {
            let x = LEFT + slot * index as f64 + slot * 0.1 + width * s as f64;
            let y = y(*value, top);
            let _ = write!(
                svg,
                r#"<rect class="bar" x="{x:.1}" y="{y:.1}" width="{width:.1}" height="{:.1}" fill="{}"><title>{}: {} {}</title></rect>"#,
                TOP + plot_height() - y,
                COLOURS[s % COLOURS.len()],
                escape(&series.name),
                escape(&chart.labels[index]),
                value
            );
        }
    }
}

fn lines(svg: &mut String, chart: &Chart, top: f64) {
    let slot = plot_width() / chart.labels.len() as f64;
    for (s, series) in chart.series.iter().enumerate() {
        let colour = COLOURS[s % COLOURS.len()];
        let points: Vec<(f64, f64)> = series
            .values
            .iter()
            .enumerate()
            .map(|(index, value)| (LEFT + slot * (index as f64 + 0.5), y(*value, top)))
            .collect();
        let path: Vec<String> = points
            .iter()
            .map(|(x, y)| format!("{x:.1},{y:.1}"))
            .collect();
        let _ = write!(
            svg,
            r#"<polyline class="line" fill="none" stroke="{colour}" stroke-width="2" points="{}"/>"#,
            path.join(" ")
        );
        for ((x, y), value) in points.iter().zip(&series.values) {
            let _ = write!(
                svg,
                r#"<circle class="point" cx="{x:.1}" cy="{y:.1}" r="3" fill="{colour}"><title>{}: {value}</title></circle>"#,
                escape(&series.name)
            );
        }
    }
}

fn legend(svg: &mut String, chart: &Chart) {
    let mut x = LEFT;
    for (s, series) in chart.series.iter().enumerate() {
        let _ = write!(
            svg,
            r#"<g class="legend"><rect x="{x:.1}" y="40" width="10" height="10" fill="{}"/><text x="{:.1}" y="49">{}</text></g>"#,
            COLOURS[s % COLOURS.len()],
            x + 14.0,
            escape(&series.name)
        );
        x += 24.0 + 7.0 * series.name.chars().count() as f64;
    }
}

/// Centred bars, widest for the first stage, each labelled with its name and count.
fn funnel(svg: &mut String, chart: &Chart) {
    let values = &chart.series[0].values;
    let largest = values.iter().map(|v| number(*v)).fold(0.0_f64, f64::max);
    let row = (HEIGHT - TOP - 20.0) / values.len() as f64;
    let centre = WIDTH / 2.0;
    for (index, value) in values.iter().enumerate() {
        let share = if largest > 0.0 {
            number(*value) / largest
        } else {
            0.0
        };
        let width = (WIDTH - 2.0 * LEFT) * share;
        let y = TOP + row * index as f64;
        let _ = write!(
            svg,
            r#"<rect class="bar" x="{:.1}" y="{y:.1}" width="{width:.1}" height="{:.1}" fill="{}"/><text class="label" x="{centre:.1}" y="{:.1}" text-anchor="middle">{}: {value}</text>"#,
            centre - width / 2.0,
            row * 0.8,
            // The light blue keeps the black labels readable on the bars.
            COLOURS[5],
            y + row * 0.4 + 4.0,
            escape(&chart.labels[index])
        );
    }
}

fn shorten(label: &str) -> String {
    if label.chars().count() <= LABEL_CHARS {
        label.to_string()
    } else {
        let cut: String = label.chars().take(LABEL_CHARS - 1).collect();
        format!("{cut}…")
    }
}

/// Text as XML character data or attribute value.
fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&apos;"),
            // Characters XML 1.0 does not allow at all are dropped.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => {}
            c => escaped.push(c),
        }
    }
    escaped
}
