"""The static site and its feeds: pages per language, RSS, Atom and JSON Feed, written
atomically under data_dir/site.
"""
