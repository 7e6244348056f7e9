"""Distributor POS ingestion: read, validate and aggregate sell-through and inventory files."""
