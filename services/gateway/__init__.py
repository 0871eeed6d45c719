"""Gateway: the one door for mobile-app backends, hospitals and ops."""
