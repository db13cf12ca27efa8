"""`python -m target_viva_insights` runs the Singer target."""

from target_viva_insights.target import TargetVivaInsights

TargetVivaInsights.cli()
