"""Static files of the reviewer page."""
