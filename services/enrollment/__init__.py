"""Enrollment: one record per person (一人一档) and their scheme enrollments."""
