"""Auto-loaded definitions: resources, partitions, jobs and one folder per asset group."""
