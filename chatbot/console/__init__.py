"""The agent console: a live queue, takeover, replies, notes and analytics for staff."""
