"""The journey analysis report: goal and scope, journey map, paths, funnel, drivers, retention, the voice of
the customer, findings with numbers, recommendations and an execution plan (HTML and PDF)."""
