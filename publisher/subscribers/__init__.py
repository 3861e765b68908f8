"""The audience: subscribers, lists and subscriptions, CSV import and export, and the
signed tokens in unsubscribe, confirm and preferences links.
"""
