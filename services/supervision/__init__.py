"""Supervision (基金监管): audits every settled claim, cases, sanctions, practitioner points."""
