"""The long-running side: scheduler and cron schedules, the watch folder, the single-holder
lease, status reports, and the demo that runs the whole pipeline once.
"""
