"""Alert lifecycle and routing: which check results become which Slack messages, and when."""
