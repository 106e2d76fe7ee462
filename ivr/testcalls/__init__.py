"""Scheduled test calls (拨测, issue 13): supervisors schedule calls to the published numbers that
enter Asterisk exactly as a citizen's call does; each result (acknowledged by a person, answered
but not acknowledged, not answered and where the route ended) is kept apart from the citizens'
figures. docs/supervision.md, "Test calls"."""
