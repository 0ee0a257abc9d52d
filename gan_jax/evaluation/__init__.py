"""Sample-quality metrics and pictures of samples."""
