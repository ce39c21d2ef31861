"""leadrank: capacity-aware lead scoring. The command line and settings live here; the stages live in
`features`, `training`, `handoff` and `serving`."""
