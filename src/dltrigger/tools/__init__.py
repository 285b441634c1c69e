"""Machinery beside the study: a standalone Spark cluster on this machine, and the engines' own
environments built from their locks."""
