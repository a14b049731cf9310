"""The config role: a versioned chain of bucket-to-group configs."""
