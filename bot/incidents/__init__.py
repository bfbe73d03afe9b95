"""Incidents: on-call schedules, escalation policies and routes (pure functions of time)."""
