"""Evaluation reports: yearly figures, national-platform service records, warning lists."""
