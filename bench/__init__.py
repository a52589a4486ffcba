"""Benchmarks for convtrack (`python -m bench`): they print a table; they are not tests."""
