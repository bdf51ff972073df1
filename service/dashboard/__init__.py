"""Whether the flagged customers were helped: outcomes in, and the connection dashboard out."""
