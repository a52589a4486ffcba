"""Reporting: replays attribution's log into SQL report views and answers report queries."""
