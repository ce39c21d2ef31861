"""Marketing's view of a handoff: the ranked list (CSV / Excel), the self-contained HTML report and the review
page the service serves at /ui. Reasons are the API's own (`serving.reasons.Explainer`)."""
