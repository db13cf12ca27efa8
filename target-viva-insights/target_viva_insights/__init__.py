"""target-viva-insights: a Singer target for Microsoft Viva Insights organizational data."""

# The one place the version is written: hatchling reads it for the distributions
# ([tool.hatch.version] in pyproject.toml) and the SDK reports it in `--about` and `--version`.
__version__ = "0.1.0"
