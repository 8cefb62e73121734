"""Side-by-side runs of fastrpca against peer libraries (see ``compare_peers.py``)."""
