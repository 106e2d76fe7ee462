"""Evidence chains (issue 13): sealed rows, ``ivr verify``, published heads, retention.

See docs/operations.md ("Evidence and verification") and docs/decisions.md."""
