"""Everything about languages: UI catalogs and locale formatting, translation slots in and
out as PO files, and which text (own language or fallback) a reader sees.
"""
