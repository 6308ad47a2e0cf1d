"""Reports: ReportData built from verdicts and series, rendered as HTML, Markdown, text or JSON (no I/O)."""
