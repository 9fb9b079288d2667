//! A proposal turned into a commit in memory; merging and landing it.
