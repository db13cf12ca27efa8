"""Delivery to Organizational data in Microsoft 365 (MODIS): its CSV, the per-person delta, its rules and
its upload."""
