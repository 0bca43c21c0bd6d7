"""`feedclean learn`'s defaults, apart from learn.py: the command line shows them in
`learn --help`, and importing learn.py would load the cleaner at every command's start."""

DEFAULT_MIN_ARTICLES = 3
DEFAULT_MIN_SHARE = 0.2
DEFAULT_MAX_CHARS = 200
