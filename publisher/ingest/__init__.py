"""Turning files into articles: decoding and cleaning text, language detection, title and
subheading segmentation, the dump/JSONL/Markdown readers, and the importer that stores them.
"""
