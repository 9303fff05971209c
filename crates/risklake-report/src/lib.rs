//! Self-contained HTML reports: one file, inline CSS, inline SVG charts and a few lines of
//! inline JavaScript for sorting tables. Nothing is fetched from the network, so a report
//! opens the same on an air-gapped laptop as in the dashboard.

pub mod binning;
pub mod html;
pub mod model;
pub mod svg;

pub use binning::{binning_report, binning_report_with};
