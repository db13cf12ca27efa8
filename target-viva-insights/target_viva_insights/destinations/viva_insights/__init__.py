"""The Viva Insights HR data ingress: a zip of data.csv and metadata.json, one ingestion per run."""
