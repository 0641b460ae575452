"""Human review: the queue, claims, confirm/overturn actions, agreement."""
