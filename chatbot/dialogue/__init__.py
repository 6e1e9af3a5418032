"""The bot's judgement: what to say to a customer message (see policy.py)."""
