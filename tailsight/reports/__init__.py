"""Reports: scheduled weekly SLO reports rendered as HTML and PDF from stored incidents and SLO state."""
