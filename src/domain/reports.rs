//! How a moderator resolved a report.

use super::stored_text;

stored_text! {
    /// A report's resolution (`reports.resolution`, whose CHECK allows exactly these two; NULL while never
    /// decided). A dismissed report no longer counts toward the automatic ban.
    pub enum ReportResolution {
        Dismissed = "dismissed",
        Actioned = "actioned",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::assert_stored_as;

    #[test]
    fn a_resolution_is_what_the_reports_check_allows() {
        assert_stored_as(
            ReportResolution::ALL,
            &["dismissed", "actioned"],
            ReportResolution::as_str,
            ReportResolution::parse,
        );
    }
}
